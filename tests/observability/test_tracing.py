"""@traced, span(), setup_tracing and the bounded export queue."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from erp_professional._sections.observability import TracingConfig
from erp_professional.config import ProfessionalConfig, ServiceConfig
from erp_professional.observability import (
    BoundedSpanProcessor,
    setup_tracing,
    span,
    traced,
    tracer_provider,
)
from erp_professional.observability._tracing import _Provider

from .conftest import Spans


def current_span_name() -> str | None:
    current = trace.get_current_span()
    return getattr(current, "name", None)


@traced
def add(a: int, b: int = 2) -> int:
    """Adds."""
    return a + b


def test_sync_function_gets_a_span_named_after_its_qualname(spans: Spans) -> None:
    assert add(1) == 3
    (recorded,) = spans.finished()
    assert recorded.name == "add"
    assert recorded.kind is SpanKind.INTERNAL
    assert recorded.status.status_code is StatusCode.UNSET


def test_signature_name_and_doc_are_kept() -> None:
    assert inspect.signature(add) == inspect.signature(add.__wrapped__)  # type: ignore[attr-defined]
    assert add.__name__ == "add" and add.__doc__ == "Adds."


class Pricing:
    @traced(name="pricing.quote", attributes={"pricing.engine": "v2"})
    async def quote(self, amount: int) -> int:
        assert current_span_name() == "pricing.quote"
        await asyncio.sleep(0)
        return amount * 2

    @traced
    def method(self) -> str:
        return "ok"


@pytest.mark.anyio
async def test_async_function_with_name_and_attributes(spans: Spans) -> None:
    assert await Pricing().quote(21) == 42
    (recorded,) = spans.finished()
    assert recorded.name == "pricing.quote"
    assert recorded.attributes == {"pricing.engine": "v2"}
    assert inspect.iscoroutinefunction(Pricing.quote)


def test_method_name_is_the_qualified_name(spans: Spans) -> None:
    Pricing().method()
    assert [s.name for s in spans.finished()] == ["Pricing.method"]


def test_exception_is_recorded_with_error_status_and_reraised(spans: Spans) -> None:
    @traced
    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        fail()
    (recorded,) = spans.finished()
    assert recorded.status.status_code is StatusCode.ERROR
    assert recorded.attributes is not None
    assert recorded.attributes["error.type"] == "KeyError"
    assert [e.name for e in recorded.events] == ["exception"]


@pytest.mark.anyio
async def test_async_exception_is_recorded(spans: Spans) -> None:
    @traced
    async def fail() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        await fail()
    assert spans.finished()[0].status.status_code is StatusCode.ERROR


def test_generator_span_covers_iteration_and_is_current_only_inside(spans: Spans) -> None:
    seen: list[str | None] = []

    @traced
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            seen.append(current_span_name())
            yield i

    with span("consumer"):
        gen = numbers(3)
        outside: list[str | None] = []
        for value in gen:
            outside.append(current_span_name())
            assert value >= 0
    assert (
        seen
        == ["test_generator_span_covers_iteration_and_is_current_only_inside.<locals>.numbers"] * 3
    )
    assert outside == ["consumer"] * 3
    by_name = {s.name: s for s in spans.finished()}
    gen_span = by_name[
        "test_generator_span_covers_iteration_and_is_current_only_inside.<locals>.numbers"
    ]
    assert gen_span.parent is not None
    assert gen_span.parent.span_id == by_name["consumer"].context.span_id


def test_generator_return_value_send_and_close(spans: Spans) -> None:
    @traced
    def echo() -> Iterator[int]:
        received = yield 1
        yield received * 10

    gen = echo()
    assert next(gen) == 1
    assert gen.send(4) == 40
    gen.close()
    (recorded,) = spans.finished()
    assert recorded.status.status_code is StatusCode.UNSET

    @traced
    def returns() -> Iterator[int]:
        yield 1
        return 5

    def delegate() -> Iterator[int]:
        result = yield from returns()
        assert result == 5

    assert list(delegate()) == [1]


def test_generator_error_inside_iteration_is_recorded(spans: Spans) -> None:
    @traced
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("midway")

    with pytest.raises(RuntimeError):
        list(broken())
    (recorded,) = spans.finished()
    assert recorded.status.status_code is StatusCode.ERROR


def test_generator_throw_is_delivered(spans: Spans) -> None:
    @traced
    def catcher() -> Iterator[str]:
        try:
            yield "first"
        except LookupError:
            yield "caught"

    gen = catcher()
    assert next(gen) == "first"
    assert gen.throw(LookupError()) == "caught"
    gen.close()


@pytest.mark.anyio
async def test_async_generator(spans: Spans) -> None:
    seen: list[str | None] = []

    @traced(name="stream")
    async def stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            seen.append(current_span_name())
            await asyncio.sleep(0)
            yield i

    assert inspect.isasyncgenfunction(stream)
    got = [value async for value in stream(3)]
    assert got == [0, 1, 2]
    assert seen == ["stream"] * 3
    assert current_span_name() is None
    assert [s.name for s in spans.finished()] == ["stream"]

    @traced(name="broken")
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("midway")

    with pytest.raises(RuntimeError):
        async for _ in broken():
            pass
    assert spans.named("broken")[0].status.status_code is StatusCode.ERROR


@pytest.mark.anyio
async def test_async_generator_asend_and_early_close(spans: Spans) -> None:
    closed = []

    @traced(name="echo")
    async def echo() -> AsyncIterator[int]:
        try:
            received = yield 1
            yield received * 10
            yield 0
        finally:
            closed.append(True)

    gen = echo()
    assert await gen.__anext__() == 1
    assert await gen.asend(3) == 30
    await gen.aclose()
    assert closed == [True]
    assert spans.named("echo")[0].status.status_code is StatusCode.UNSET


def test_span_context_manager_sync(spans: Spans) -> None:
    with span("invoice.render", {"invoice.id": 7}, pages=3) as current:
        current.set_attribute("extra", True)
        assert current_span_name() == "invoice.render"
    (recorded,) = spans.finished()
    assert recorded.attributes == {"invoice.id": 7, "pages": 3, "extra": True}


@pytest.mark.anyio
async def test_span_context_manager_async_records_errors(spans: Spans) -> None:
    with pytest.raises(ZeroDivisionError):
        async with span("divide", kind=SpanKind.CLIENT):
            _ = 1 / 0
    (recorded,) = spans.finished()
    assert recorded.kind is SpanKind.CLIENT
    assert recorded.status.status_code is StatusCode.ERROR


def test_span_rejects_bad_names_and_reentry() -> None:
    with pytest.raises(ValueError):
        span("")
    manager = span("once")
    with manager, pytest.raises(RuntimeError), manager:
        pass


def test_traced_rejects_non_callables() -> None:
    with pytest.raises(TypeError):
        traced(42)  # type: ignore[call-overload]


def test_resource_and_sampler_from_config(spans: Spans) -> None:
    cfg = ProfessionalConfig(
        service=ServiceConfig(name="billing", version="1.2.3", environment="staging"),
        observability={"tracing": {"exporter": "memory", "sample_ratio": 0.0}},  # type: ignore[arg-type]
    )
    provider = setup_tracing(cfg)
    try:
        assert isinstance(provider, _Provider)
        attrs = provider.resource.attributes
        assert attrs["service.name"] == "billing"
        assert attrs["service.version"] == "1.2.3"
        assert attrs["deployment.environment"] == "staging"
        with span("dropped"):
            pass
        from erp_professional.observability import memory_exporter

        exporter = memory_exporter()
        assert exporter is not None
        assert exporter.get_finished_spans() == ()
        # Parent-based: a sampled remote parent is still followed at ratio 0.
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

        parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
        with trace.use_span(NonRecordingSpan(parent)), span("child"):
            pass
        (child,) = exporter.get_finished_spans()
        assert child.context.trace_id == 0xABC
        assert child.resource.attributes["service.name"] == "billing"
    finally:
        setup_tracing(TracingConfig(exporter="memory"))


def test_no_exporter_means_no_processor_and_no_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    provider = setup_tracing(TracingConfig(exporter="none"))
    try:
        assert isinstance(provider, _Provider)
        assert provider.switch.delegate is None
        with span("local only") as current:
            assert current.get_span_context().is_valid  # ids still exist for log lines
        assert {t.name for t in threading.enumerate()} - before == set()
    finally:
        setup_tracing(TracingConfig(exporter="memory"))


def test_exporter_kinds_are_built() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    from erp_professional.observability._tracing import _exporter

    http = _exporter(TracingConfig(exporter="otlp-http", endpoint="http://127.0.0.1:4318"))
    assert isinstance(http, OTLPSpanExporter)
    assert http._endpoint == "http://127.0.0.1:4318/v1/traces"
    assert isinstance(
        _exporter(TracingConfig(exporter="otlp-grpc", endpoint="http://127.0.0.1:4317")),
        GrpcExporter,
    )
    assert isinstance(_exporter(TracingConfig(exporter="console")), ConsoleSpanExporter)
    assert _exporter(TracingConfig(exporter="none")) is None


def test_setup_keeps_one_global_provider() -> None:
    first = setup_tracing(TracingConfig(exporter="memory"))
    second = setup_tracing(TracingConfig(exporter="memory"))
    assert first is second is tracer_provider() is trace.get_tracer_provider()


class BlockingExporter(SpanExporter):
    """An exporter stuck like an unreachable collector until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        self.exported.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class FailingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionRefusedError("collector down")

    def shutdown(self) -> None:
        return None


def test_stuck_exporter_never_blocks_and_drops_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = BlockingExporter()
    processor = BoundedSpanProcessor(exporter, max_queue_size=4, max_export_batch_size=2)
    provider = setup_tracing(TracingConfig(exporter="none"))
    assert isinstance(provider, _Provider)
    provider.switch.replace(processor)
    caplog.set_level(logging.WARNING, logger="erp_professional.observability")
    try:
        started = time.perf_counter()
        for i in range(50):
            with span(f"s{i}"):
                pass
        elapsed = time.perf_counter() - started
        assert elapsed < 2.0  # nothing waited for the stuck exporter
        assert processor.dropped >= 50 - 4 - 2
        warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(warnings) == 1  # rate-limited: one warning, not one per span
        exporter.release.set()
        assert processor.force_flush(5000)
        assert processor.dropped + len(exporter.exported) == 50
    finally:
        setup_tracing(TracingConfig(exporter="memory"))


def test_failing_exporter_counts_drops() -> None:
    clock = [0.0]
    processor = BoundedSpanProcessor(
        FailingExporter(), max_queue_size=10, schedule_delay=60, clock=lambda: clock[0]
    )
    provider = setup_tracing(TracingConfig(exporter="none"))
    assert isinstance(provider, _Provider)
    provider.switch.replace(processor)
    try:
        for _ in range(3):
            with span("x"):
                pass
        processor.force_flush()
        assert processor.dropped == 3
        assert processor.exported == 0
    finally:
        setup_tracing(TracingConfig(exporter="memory"))


def test_bounded_processor_validates_arguments() -> None:
    with pytest.raises(ValueError):
        BoundedSpanProcessor(FailingExporter(), max_queue_size=0)
