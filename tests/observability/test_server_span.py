"""The HTTP server span concern on both drivers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind, StatusCode

from .apps import Driven
from .conftest import PARENT_SPAN_ID, TRACE_ID, TRACEPARENT, Spans


@pytest.fixture(params=["asgi", "wsgi"])
def app(request: pytest.FixtureRequest, spans: Spans) -> Iterator[Driven]:
    driven = Driven(request.param, observability__tracing__exporter="memory")
    spans.clear()
    yield driven
    driven.close()


def server_spans(spans: Spans) -> list:  # type: ignore[type-arg]
    return [s for s in spans.finished() if s.kind is SpanKind.SERVER]


def test_one_server_span_named_by_route_template(app: Driven, spans: Spans) -> None:
    reply = app.get("/items/42?secret=1", headers={"user-agent": "probe/1.0"})
    assert reply.status == 200
    (server,) = server_spans(spans)
    assert server.name == "GET /items/{item_id}"
    attrs = dict(server.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.path"] == "/items/42"
    assert attrs["url.scheme"] == "http"
    assert attrs["http.route"] == "/items/{item_id}"
    assert attrs["http.response.status_code"] == 200
    assert attrs["user_agent.original"] == "probe/1.0"
    assert "client.address" in attrs
    assert "error.type" not in attrs
    assert server.status.status_code is StatusCode.UNSET
    assert all("42" not in s.name for s in spans.finished())


def test_unknown_route_is_named_by_method_only(app: Driven, spans: Spans) -> None:
    app.get("/nowhere/123")
    (server,) = server_spans(spans)
    assert server.name == "GET"
    assert "http.route" not in dict(server.attributes or {})


def test_traceparent_is_continued(app: Driven, spans: Spans) -> None:
    reply = app.get("/items/1", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"})
    (server,) = server_spans(spans)
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and server.parent.is_remote
    assert format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert server.context.trace_state.get("vendor") == "abc"
    # The app's outgoing headers carry the same trace, with the server span as parent.
    outgoing = reply.json()["outgoing"]
    assert outgoing["traceparent"].split("-")[1] == TRACE_ID
    assert outgoing["traceparent"].split("-")[2] == format(server.context.span_id, "016x")
    assert outgoing["tracestate"] == "vendor=abc"


def test_baggage_reaches_the_app(app: Driven, spans: Spans) -> None:
    reply = app.get("/items/1", headers={"traceparent": TRACEPARENT, "baggage": "tenant=acme"})
    assert reply.json()["outgoing"]["baggage"] == "tenant=acme"


@pytest.mark.parametrize(
    "traceparent",
    [
        "garbage",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    ],
)
def test_malformed_traceparent_starts_a_new_trace(
    app: Driven, spans: Spans, traceparent: str
) -> None:
    reply = app.get("/items/1", headers={"traceparent": traceparent})
    assert reply.status == 200
    (server,) = server_spans(spans)
    assert server.parent is None
    assert format(server.context.trace_id, "032x") != TRACE_ID
    assert server.context.trace_id != 0


def test_server_error_sets_error_status(app: Driven, spans: Spans) -> None:
    assert app.get("/error").status == 503
    (server,) = server_spans(spans)
    assert server.status.status_code is StatusCode.ERROR
    assert dict(server.attributes or {})["error.type"] == "503"


def test_client_error_leaves_status_unset(app: Driven, spans: Spans) -> None:
    assert app.get("/missing").status == 404
    (server,) = server_spans(spans)
    assert server.status.status_code is StatusCode.UNSET
    assert "error.type" not in dict(server.attributes or {})


def test_unhandled_exception_is_recorded(app: Driven, spans: Spans) -> None:
    assert app.get("/fail").status == 500
    (server,) = server_spans(spans)
    assert server.name == "GET /fail"
    assert server.status.status_code is StatusCode.ERROR
    attrs = dict(server.attributes or {})
    assert attrs["error.type"] == "RuntimeError"
    assert attrs["http.response.status_code"] == 500
    assert [e.name for e in server.events] == ["exception"]


def test_toolkit_endpoints_are_excluded_by_default(app: Driven, spans: Spans) -> None:
    assert app.get("/_pro/metrics").status == 200
    assert app.get("/_pro/info").status == 200
    assert server_spans(spans) == []


def test_excluded_paths_are_configurable(spans: Spans) -> None:
    driven = Driven(
        "asgi",
        observability__tracing__exporter="memory",
        observability__tracing__excluded_paths=["{prefix}", "/items"],
    )
    try:
        spans.clear()
        driven.get("/items/3")
        driven.get("/_pro/info")
        driven.get("/itemsx")
        assert [s.name for s in server_spans(spans)] == ["GET"]
    finally:
        driven.close()


def test_unknown_method_is_other(spans: Spans) -> None:
    driven = Driven("asgi", observability__tracing__exporter="memory")
    try:
        assert driven._asgi is not None
        spans.clear()
        driven._asgi.request("PURGE", "/items/1")
        (server,) = server_spans(spans)
        attrs = dict(server.attributes or {})
        assert server.name == "HTTP /items/{item_id}"
        assert attrs["http.request.method"] == "_OTHER"
        assert attrs["http.request.method_original"] == "PURGE"
    finally:
        driven.close()


def test_app_code_can_enrich_the_server_span(spans: Spans) -> None:
    from opentelemetry import trace
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from erp_professional import integrate
    from erp_professional.observability import span

    async def order(request: Request) -> JSONResponse:
        current = trace.get_current_span()
        current.set_attribute("order.id", 42)
        current.set_attributes({"order.lines": [1, 2]})
        current.set_attribute("bad", {"not": "allowed"})  # type: ignore[arg-type]
        current.add_event("validated", {"rules": 3})
        current.record_exception(ValueError("soft failure"))
        with span("db.query"):
            pass
        return JSONResponse({})

    app = Starlette(routes=[Route("/orders/{id}", order)])
    integrate(app, observability__tracing__exporter="memory")
    with TestClient(app) as client:
        spans.clear()
        client.get("/orders/42")
    (server,) = server_spans(spans)
    attrs = dict(server.attributes or {})
    assert attrs["order.id"] == 42
    assert attrs["order.lines"] == (1, 2)
    assert "bad" not in attrs
    assert [e.name for e in server.events] == ["validated", "exception"]
    assert dict(server.events[1].attributes or {})["exception.type"] == "ValueError"
    (child,) = spans.named("db.query")
    assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert server.resource.attributes["service.name"] == "erp-service"
    assert server.instrumentation_scope is not None
    assert server.end_time is not None and server.start_time is not None
    assert server.end_time >= server.start_time
    json.loads(server.to_json())  # the console exporter's rendering works


def test_unsampled_requests_still_have_trace_ids(spans: Spans) -> None:
    driven = Driven(
        "asgi",
        observability__tracing__exporter="memory",
        observability__tracing__sample_ratio=0.0,
    )
    try:
        spans.clear()
        reply = driven.get("/items/1")
        assert server_spans(spans) == []
        outgoing = reply.json()["outgoing"]["traceparent"]
        assert int(outgoing.split("-")[3], 16) & 1 == 0  # propagated as not sampled
        reply = driven.get("/items/1", headers={"traceparent": TRACEPARENT})
        assert [format(s.context.trace_id, "032x") for s in server_spans(spans)] == [TRACE_ID]
    finally:
        driven.close()


def test_processors_added_by_the_app_see_server_spans(app: Driven, spans: Spans) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor

    started: list[str] = []
    ended: list[str] = []
    parents: list[int] = []

    class Recorder(SpanProcessor):
        def on_start(self, span: object, parent_context: object = None) -> None:
            started.append(getattr(span, "name", ""))
            remote = trace.get_current_span(parent_context).get_span_context()  # type: ignore[arg-type]
            parents.append(remote.trace_id)

        def on_end(self, span: object) -> None:
            ended.append(getattr(span, "name", ""))

    provider = trace.get_tracer_provider()
    provider.add_span_processor(Recorder())  # type: ignore[attr-defined]
    app.get("/items/3")
    assert started[-1] == "GET"
    assert ended[-1] == "GET /items/{item_id}"
    app.get("/items/4", headers={"traceparent": TRACEPARENT})
    assert parents == [0, int(TRACE_ID, 16)]  # the remote parent reaches on_start


hexes = st.text(alphabet="0123456789abcdefABCDEF-xz ", min_size=0, max_size=60)


def _otel_parse(value: str, state: str | None) -> object:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": value}
    if state:
        carrier["tracestate"] = state
    context = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier))
    span_context = context.get_span_context()
    return span_context if span_context.is_valid else None


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(["00", "01", "ff", "0g", "0"]),
    trace_id=st.one_of(st.just("0af7651916cd43dd8448eb211c80319c"), st.just("0" * 32), hexes),
    span_id=st.one_of(st.just("b7ad6b7169203331"), st.just("0" * 16), hexes),
    flags=st.sampled_from(["00", "01", "03", "zz", "1"]),
    extra=st.sampled_from(["", "-what", "-"]),
    state=st.sampled_from([None, "", "vendor=abc", "a=1,b=2", "bad state"]),
)
def test_traceparent_parsing_agrees_with_opentelemetry(
    version: str, trace_id: str, span_id: str, flags: str, extra: str, state: str | None
) -> None:
    from erp_professional.observability._propagation import parse_traceparent

    header = f"{version}-{trace_id}-{span_id}-{flags}{extra}"
    ours = parse_traceparent(header, state)
    theirs = _otel_parse(header, state)
    if theirs is None:
        assert ours is None
    else:
        assert ours is not None
        assert (ours.trace_id, ours.span_id, ours.trace_flags) == (
            theirs.trace_id,  # type: ignore[attr-defined]
            theirs.span_id,  # type: ignore[attr-defined]
            theirs.trace_flags,  # type: ignore[attr-defined]
        )
        assert ours.trace_state == theirs.trace_state  # type: ignore[attr-defined]


def test_a_propagator_set_by_the_app_is_honoured(app: Driven, spans: Spans) -> None:
    from opentelemetry import propagate
    from opentelemetry.propagators.textmap import DefaultGetter, DefaultSetter
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    class HeaderRenamed(TraceContextTextMapPropagator):
        """Trace context carried in ``x-trace`` (as a vendor propagator would)."""

        def extract(self, carrier, context=None, getter=DefaultGetter()):  # type: ignore[no-untyped-def]
            value = getter.get(carrier, "x-trace")
            return super().extract({"traceparent": value[0]} if value else {}, context)

        def inject(self, carrier, context=None, setter=DefaultSetter()):  # type: ignore[no-untyped-def]
            return super().inject(carrier, context, setter)

        @property
        def fields(self) -> set[str]:
            return {"x-trace"}

    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(HeaderRenamed())
    try:
        app.get("/items/1", headers={"x-trace": TRACEPARENT})
    finally:
        propagate.set_global_textmap(previous)
    (server,) = server_spans(spans)
    assert format(server.context.trace_id, "032x") == TRACE_ID


def test_parent_not_sampled_is_followed(app: Driven, spans: Spans) -> None:
    unsampled = TRACEPARENT[:-2] + "00"
    reply = app.get("/items/1", headers={"traceparent": unsampled})
    assert server_spans(spans) == []
    outgoing = reply.json()["outgoing"]["traceparent"]
    assert outgoing.split("-")[1] == TRACE_ID
    assert int(outgoing.split("-")[3], 16) & 1 == 0


def test_a_sampler_replaced_by_the_app_decides(app: Driven, spans: Spans) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    from erp_professional.observability._tracing import _SwitchSampler

    sampler = trace.get_tracer_provider().sampler  # type: ignore[attr-defined]
    assert isinstance(sampler, _SwitchSampler)
    previous = sampler.delegate, sampler.ratio
    sampler.delegate = ParentBased(ALWAYS_OFF)
    sampler.set_ratio(None)
    try:
        app.get("/items/1")
        assert server_spans(spans) == []
        app.get("/items/1", headers={"traceparent": TRACEPARENT})
        assert len(server_spans(spans)) == 1
    finally:
        sampler.delegate = previous[0]
        sampler.set_ratio(previous[1])
