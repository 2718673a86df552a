"""The apps of the HTTP stack benchmark, importable by string for uvicorn.

Every configuration serves the same Starlette app (one fresh instance each, built by
:func:`starlette_app`): ``GET /items/{item_id}`` answers a small JSON body and
``GET /boom`` raises (for the error-path sanity checks).

* ``bare``: the app alone;
* ``foundation``: ``integrate(app)`` with every capability section that has an ``enabled``
  switch turned off, leaving the request-id concern and the error boundary;
* ``full``: ``integrate(app)`` with the default configuration (every capability that
  exists) plus a default rate limit that nothing reaches, as the anchor stack has;
* ``anchor``: what users assemble today from the usual libraries: OpenTelemetry's ASGI
  middleware (SDK tracer provider, batch processor, discarding exporter), Sentry's ASGI
  middleware (discarding transport, tracing off), a prometheus_client request histogram
  middleware, ``secure``'s ASGI headers middleware and slowapi's ASGI middleware (memory
  storage, a limit nothing reaches).

Serve one from the repository root with ``HTTP_STACK_CONFIG=<name> uvicorn
benchmarks._apps:app_from_env --factory``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CONFIGS = ("bare", "foundation", "full", "anchor")
ENV_VAR = "HTTP_STACK_CONFIG"
ITEM_ROUTE = "/items/{item_id}"
HIGH_LIMIT = "1000000000/minute"


async def item(request: Request) -> JSONResponse:
    item_id = int(request.path_params["item_id"])
    return JSONResponse({"id": item_id, "name": "widget", "price": 9.5, "in_stock": True})


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("boom")


def starlette_app(middleware: Sequence[Middleware] = ()) -> Starlette:
    """A fresh instance of the benchmark app."""
    return Starlette(
        routes=[Route(ITEM_ROUTE, item), Route("/boom", boom)], middleware=list(middleware)
    )


@dataclass
class Built:
    """One configuration: the ASGI app to serve and probes that prove its stack worked."""

    name: str
    app: Any
    probes: dict[str, Callable[[], float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- ours ------------------------------------------------------------------------------------
def switchable_sections() -> list[str]:
    """The configuration sections that have an ``enabled`` switch."""
    from erp_professional.config import ProfessionalConfig

    sections = []
    for name, info in ProfessionalConfig.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and "enabled" in getattr(model, "model_fields", {}):
            sections.append(name)
    return sections


def _existing(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the ``a__b__c`` overrides whose path exists in the configuration model."""
    from erp_professional.config import ProfessionalConfig

    kept: dict[str, Any] = {}
    for key, value in overrides.items():
        model: Any = ProfessionalConfig
        for part in key.split("__"):
            fields = getattr(model, "model_fields", None)
            if not fields or part not in fields:
                break
            model = fields[part].annotation
        else:
            kept[key] = value
    return kept


# The anchor stack rate-limits every request (slowapi, a limit nothing reaches); the full
# configuration gets the same, once the capability that owns the setting exists. Without
# it ours has no default limit and would skip the rate-limit concern the anchor pays for.
FULL_OVERRIDES: dict[str, Any] = {"security__rate_limit__default": HIGH_LIMIT}


def foundation_overrides() -> dict[str, Any]:
    """Every section with an ``enabled`` switch turned off."""
    return {f"{name}__enabled": False for name in switchable_sections()}


def build_ours(name: str, overrides: Mapping[str, Any]) -> Built:
    """``integrate()`` a fresh benchmark app with ``overrides``; notes list its concerns."""
    from erp_professional import integrate

    app = starlette_app()
    pro = integrate(app, **overrides)
    concerns = ", ".join(c.name for c in pro.pipeline.concerns)
    return Built(name, app, notes=[f"concerns: {concerns}"])


def breakdown_variants() -> dict[str, dict[str, Any]]:
    """One configuration per capability (foundation + that section) and per sub-switch.

    ``observability`` is the section alone; ``observability.tracing`` is the section with
    its other default-on sub-sections switched off; ``security+rate_limit__default`` adds
    the full configuration's override to the section. New capabilities appear by themselves.
    """
    from erp_professional.config import ProfessionalConfig

    base = foundation_overrides()
    defaults = ProfessionalConfig()
    variants: dict[str, dict[str, Any]] = {}
    for section in switchable_sections():
        if not getattr(defaults, section).enabled:
            continue
        on = {**base, f"{section}__enabled": True}
        variants[section] = on
        model = getattr(defaults, section)
        subs = [
            sub
            for sub in type(model).model_fields
            if getattr(getattr(model, sub), "enabled", None) is True
        ]
        if len(subs) > 1:
            for sub in subs:
                others = {f"{section}__{o}__enabled": False for o in subs if o != sub}
                variants[f"{section}.{sub}"] = {**on, **others}
        for key, value in _existing(FULL_OVERRIDES).items():
            if key.startswith(section + "__"):
                variants[f"{section}+{key[len(section) + 2 :]}"] = {**on, key: value}
    return variants


# -- anchor stack ----------------------------------------------------------------------------
class PrometheusMiddleware:
    """A request histogram by method, route template and status (pure ASGI)."""

    def __init__(self, app: Any, histogram: Any) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.histogram.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - start
            )


_sentry_events: list[object] = []


def _init_sentry() -> None:
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class DiscardTransport(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            _sentry_events.append(envelope)
            if len(_sentry_events) > 100:
                del _sentry_events[:50]

    if sentry_sdk.get_client().is_active():
        return
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=DiscardTransport,
        traces_sample_rate=None,
        # The auto-enabled Starlette integration patches Starlette for the whole process
        # (and would then also run inside the other configurations); it wraps the app in
        # the same ASGI middleware that is used explicitly here.
        auto_enabling_integrations=False,
    )


def build_anchor() -> Built:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry, Histogram
    from secure import Secure
    from secure.middleware.asgi import SecureASGIMiddleware
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
    from slowapi import Limiter
    from slowapi.middleware import SlowAPIASGIMiddleware
    from slowapi.util import get_remote_address

    exported = [0]

    class DiscardExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            exported[0] += len(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardExporter()))
    _init_sentry()
    registry = CollectorRegistry()
    histogram = Histogram(
        "http_request_duration_seconds",
        "HTTP request duration",
        ["method", "route", "status"],
        registry=registry,
    )
    limiter = Limiter(
        key_func=get_remote_address, default_limits=[HIGH_LIMIT], storage_uri="memory://"
    )
    # Outermost first: tracing sees everything, then errors, metrics, headers, rate limit.
    app = starlette_app(
        [
            Middleware(OpenTelemetryMiddleware, tracer_provider=provider),
            Middleware(SentryAsgiMiddleware),
            Middleware(PrometheusMiddleware, histogram=histogram),
            Middleware(SecureASGIMiddleware, secure=Secure.with_default_headers()),
            Middleware(SlowAPIASGIMiddleware),
        ]
    )
    app.state.limiter = limiter

    def spans() -> float:
        provider.force_flush()
        return exported[0]

    def samples() -> float:
        value = registry.get_sample_value(
            "http_request_duration_seconds_count",
            {"method": "GET", "route": ITEM_ROUTE, "status": "200"},
        )
        return value or 0.0

    def sentry_envelopes() -> float:
        import sentry_sdk

        sentry_sdk.flush()
        return len(_sentry_events)

    return Built(
        "anchor",
        app,
        probes={"spans": spans, "histogram_samples": samples, "sentry_envelopes": sentry_envelopes},
    )


def build(name: str) -> Built:
    """Build the configuration ``name`` (one of :data:`CONFIGS`)."""
    if name == "bare":
        return Built("bare", starlette_app())
    if name == "foundation":
        built = build_ours(name, foundation_overrides())
        built.notes.insert(0, f"disabled sections: {', '.join(switchable_sections())}")
        return built
    if name == "full":
        overrides = _existing(FULL_OVERRIDES)
        built = build_ours(name, overrides)
        built.notes[:0] = [f"default config, {k}={v}" for k, v in overrides.items()]
        return built
    if name == "anchor":
        return build_anchor()
    raise ValueError(f"unknown configuration {name!r}: expected one of {', '.join(CONFIGS)}")


def app_from_env() -> Any:
    """uvicorn factory: the app of the configuration named by ``$HTTP_STACK_CONFIG``."""
    return build(os.environ.get(ENV_VAR, "bare")).app
