"""``setup_tracing``: one TracerProvider per process, re-configurable in place.

The OpenTelemetry API lets the global provider be set once per process. The first call
installs ours; later calls swap its resource, sampler and exporter in place, so a test
suite (or an app that calls ``integrate()`` twice) can change exporters freely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from .._sections.observability import ObservabilityConfig, TracingConfig
from ..config import ProfessionalConfig, ServiceConfig
from ..connections import MissingDependencyError
from ._export import BoundedSpanProcessor

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Tracer

__all__ = ["memory_exporter", "setup_tracing", "tracer_provider"]

log = logging.getLogger("erp_professional.observability")
_lock = threading.Lock()


class _SwitchSampler(Sampler):
    """A sampler whose delegate can be replaced while tracers keep a reference to it."""

    def __init__(self, delegate: Sampler, ratio: float | None = None) -> None:
        self.delegate = delegate
        self.set_ratio(ratio)

    def set_ratio(self, ratio: float | None) -> None:
        """Record that the delegate is ``ParentBased(TraceIdRatioBased(ratio))``: the server
        span then samples by the same rule without the generic sampler machinery."""
        self.ratio = ratio
        self.bound = None if ratio is None else TraceIdRatioBased.get_bound_for_rate(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return self.delegate.get_description()


class _SwitchProcessor(SpanProcessor):
    """The one processor registered on our provider; its delegate is swapped on re-setup."""

    def __init__(self) -> None:
        self.delegate: SpanProcessor | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        delegate = self.delegate
        if delegate is not None:
            delegate.on_end(span)

    def replace(self, delegate: SpanProcessor | None) -> None:
        old, self.delegate = self.delegate, delegate
        if old is not None:
            old.shutdown()

    def shutdown(self) -> None:
        self.replace(None)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        delegate = self.delegate
        return True if delegate is None else delegate.force_flush(timeout_millis)


class _Provider(TracerProvider):
    """Our TracerProvider: the resource can be replaced for every tracer it made."""

    def __init__(self, resource: Resource, sampler: _SwitchSampler) -> None:
        super().__init__(sampler=sampler, resource=resource, shutdown_on_exit=True)
        self.switch = _SwitchProcessor()
        self.add_span_processor(self.switch)
        self.memory: InMemorySpanExporter | None = None

    @property
    def processor(self) -> SpanProcessor:
        """Every span processor of this provider (ours and any the app added), as one."""
        processor: SpanProcessor = self._active_span_processor
        return processor

    @property
    def sole_processor(self) -> _SwitchProcessor | None:
        """Our switch when it is the only processor (the app added none): spans may then
        skip the multi-processor fan-out and ``on_start``, which the switch ignores."""
        switch = self.switch
        if self._active_span_processor._span_processors == (switch,):
            return switch
        return None

    def replace_resource(self, resource: Resource) -> None:
        with self._tracers_lock:
            self._resource = resource
            for tracer in self._tracers.values():
                tracer.resource = resource


_provider: _Provider | None = None


def _resource(service: ServiceConfig) -> Resource:
    return Resource.create(
        {
            "service.name": service.name,
            "service.version": service.version,
            "deployment.environment": service.environment,
            "deployment.environment.name": service.environment,
        }
    )


def _exporter(config: TracingConfig) -> SpanExporter | None:
    kind = config.exporter
    headers = {k: v.get_secret_value() for k, v in config.headers.items()} or None
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp-http":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise MissingDependencyError(
                "opentelemetry-exporter-otlp-proto-http", "otlp", "OTLP/HTTP trace export"
            ) from None
        endpoint = config.endpoint
        if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        return OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=config.export_timeout)
    if kind == "otlp-grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError:
            raise MissingDependencyError(
                "opentelemetry-exporter-otlp-proto-grpc", "otlp", "OTLP/gRPC trace export"
            ) from None
        return GrpcSpanExporter(
            endpoint=config.endpoint, headers=headers, timeout=config.export_timeout
        )
    return None


def _settings(
    config: TracingConfig | ObservabilityConfig | ProfessionalConfig | None,
    service: ServiceConfig | None,
) -> tuple[TracingConfig, ServiceConfig]:
    if isinstance(config, ProfessionalConfig):
        return config.observability.tracing, service or config.service
    if isinstance(config, ObservabilityConfig):
        return config.tracing, service or ServiceConfig()
    return config or TracingConfig(), service or ServiceConfig()


def setup_tracing(
    config: TracingConfig | ObservabilityConfig | ProfessionalConfig | None = None,
    *,
    service: ServiceConfig | None = None,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install (or re-configure) the process's TracerProvider and return it.

    The resource carries ``service.name``, ``service.version`` and
    ``deployment.environment`` from ``service``; the sampler is parent-based with
    ``sample_ratio`` for new traces. ``exporter`` overrides ``config.exporter``. With no
    exporter (the default ``"none"``) spans are created for log correlation but nothing
    is sent anywhere: no thread, no socket.
    """
    global _provider
    tracing, svc = _settings(config, service)
    sampler = ParentBased(TraceIdRatioBased(tracing.sample_ratio))
    resource = _resource(svc)
    if exporter is None and tracing.exporter == "memory":
        exporter = InMemorySpanExporter()
    if exporter is None:
        exporter = _exporter(tracing)
    with _lock:
        provider = _provider
        if provider is None:
            provider = _Provider(resource, _SwitchSampler(sampler, tracing.sample_ratio))
            trace.set_tracer_provider(provider)
            if trace.get_tracer_provider() is not provider:
                log.warning(
                    "a TracerProvider was already installed by other code; "
                    "erp_professional spans use its own provider"
                )
            _provider = provider
        else:
            provider.replace_resource(resource)
            assert isinstance(provider.sampler, _SwitchSampler)
            provider.sampler.delegate = sampler
            provider.sampler.set_ratio(tracing.sample_ratio)
        processor: SpanProcessor | None
        if exporter is None:
            processor = None
        elif isinstance(exporter, InMemorySpanExporter):
            processor = SimpleSpanProcessor(exporter)
        else:
            processor = BoundedSpanProcessor(
                exporter,
                max_queue_size=tracing.max_queue_size,
                max_export_batch_size=tracing.max_export_batch_size,
                schedule_delay=tracing.schedule_delay,
            )
        provider.memory = exporter if isinstance(exporter, InMemorySpanExporter) else None
        provider.switch.replace(processor)
    return provider


def tracer_provider() -> TracerProvider | None:
    """The provider installed by :func:`setup_tracing`, or ``None`` before it ran."""
    return _provider


def memory_exporter() -> InMemorySpanExporter | None:
    """The in-memory exporter when tracing is set up with ``exporter="memory"`` (tests)."""
    return None if _provider is None else _provider.memory


def get_tracer() -> Tracer | trace.Tracer:
    """The erp_professional tracer from the global provider (a proxy before setup)."""
    return trace.get_tracer("erp_professional")


def flush_tracing(timeout_millis: int = 5000) -> bool:
    """Export what is queued now (shutdown hooks and tests)."""
    provider = _provider
    return True if provider is None else provider.switch.force_flush(timeout_millis)
