"""W3C trace context in and out: extraction from a request, injection into outgoing calls."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceState

from ..web import RequestHeaders
from ._fastspan import make_span_context

if TYPE_CHECKING:
    import httpx
    import requests

__all__ = ["extract_context", "inject_trace_headers", "trace_httpx", "trace_requests"]

C = TypeVar("C", bound="httpx.Client | httpx.AsyncClient")


class _HeadersGetter(Getter[RequestHeaders]):
    def get(self, carrier: RequestHeaders, key: str) -> list[str] | None:
        values = carrier.getall(key)
        return values or None

    def keys(self, carrier: RequestHeaders) -> list[str]:
        return [name for name, _ in carrier.items()]


_GETTER = _HeadersGetter()


_W3C_FIELDS = frozenset(("traceparent", "tracestate", "baggage"))
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_BAGGAGE = W3CBaggagePropagator()


_checked: list[object] = [None, False]


def _w3c_only() -> bool:
    """True when the global propagator is W3C trace context + baggage (the default)."""
    textmap = propagate.get_global_textmap()
    if _checked[0] is not textmap:
        _checked[:] = [textmap, frozenset(textmap.fields) == _W3C_FIELDS]
    return bool(_checked[1])


def parse_traceparent(value: str, tracestate: str | None = None) -> SpanContext | None:
    """A remote span context from a W3C ``traceparent`` value, or ``None`` if malformed."""
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    state = TraceState.from_header([tracestate]) if tracestate else None
    return make_span_context(trace_id, span_id, True, int(flags, 16), state)


def scan_headers(headers: RequestHeaders) -> tuple[str | None, str | None, str | None, str | None]:
    """``traceparent``, ``tracestate``, ``baggage`` and ``user-agent`` in one pass (first
    value of each; ASGI header names are lowercase, as everywhere in the toolkit)."""
    raw = getattr(headers, "raw", None)
    if not isinstance(raw, list):
        get = headers.get
        return get("traceparent"), get("tracestate"), get("baggage"), get("user-agent")
    parent = state = baggage = agent = None
    for key, value in raw:
        if key == b"user-agent":
            if agent is None:
                agent = value.decode("latin-1")
        elif key == b"traceparent":
            if parent is None:
                parent = value.decode("latin-1")
        elif key == b"tracestate":
            if state is None:
                state = value.decode("latin-1")
        elif key == b"baggage" and baggage is None:
            baggage = value.decode("latin-1")
    return parent, state, baggage, agent


def extract_parent(
    headers: RequestHeaders,
    scanned: tuple[str | None, str | None, str | None, str | None] | None = None,
) -> tuple[Context | None, SpanContext | None]:
    """:func:`extract_context` and the remote parent's span context (when there is one)."""
    if not _w3c_only():
        context = propagate.extract(headers, getter=_GETTER)
        span_context = trace.get_current_span(context).get_span_context()
        return context, span_context if span_context.is_valid else None
    traceparent, tracestate, baggage, _ = scanned or scan_headers(headers)
    if traceparent is None and baggage is None:
        return None, None
    result: Context | None = None
    parent = parse_traceparent(traceparent, tracestate) if traceparent is not None else None
    if parent is not None:
        result = trace.set_span_in_context(NonRecordingSpan(parent))
    if baggage is not None:
        result = _BAGGAGE.extract(headers, result, getter=_GETTER)
    return result, parent


def remote_parent(
    headers: RequestHeaders,
    scanned: tuple[str | None, str | None, str | None, str | None],
) -> tuple[Context | None, SpanContext | None]:
    """Like :func:`extract_parent`, but when the request carries only trace context (no
    baggage, default propagators) the context is left to be made by whoever needs it:
    ``(None, remote span context)``."""
    if scanned[2] is None and _w3c_only():
        traceparent = scanned[0]
        if traceparent is None:
            return None, None
        return None, parse_traceparent(traceparent, scanned[1])
    return extract_parent(headers, scanned)


def extract_context(
    headers: RequestHeaders,
    scanned: tuple[str | None, str | None, str | None, str | None] | None = None,
) -> Context | None:
    """The remote parent from ``traceparent``/``tracestate``/``baggage``, or ``None``.

    A malformed ``traceparent`` yields no parent: a new trace starts, silently, as the
    W3C recommendation asks. A propagator configured by the app (``OTEL_PROPAGATORS``,
    ``set_global_textmap``) is honoured.
    """
    return extract_parent(headers, scanned)[0]


def inject_trace_headers(
    headers: MutableMapping[str, str] | None = None,
) -> MutableMapping[str, str]:
    """Add ``traceparent``/``tracestate``/``baggage`` of the current span to ``headers``.

    Returns the mapping (a new ``dict`` when none is given)::

        httpx.get(url, headers=inject_trace_headers({"accept": "application/json"}))
    """
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    propagate.inject(carrier)
    return carrier


def trace_httpx(client: C) -> C:
    """Make every request of an ``httpx.Client`` or ``httpx.AsyncClient`` carry the trace
    context current when it is sent (an event hook; returns the client)."""
    import httpx

    if isinstance(client, httpx.AsyncClient):

        async def async_hook(request: httpx.Request) -> None:
            propagate.inject(request.headers)

        hooks = client.event_hooks
        hooks["request"] = [*hooks.get("request", []), async_hook]
        client.event_hooks = hooks
    elif isinstance(client, httpx.Client):

        def hook(request: httpx.Request) -> None:
            propagate.inject(request.headers)

        hooks = client.event_hooks
        hooks["request"] = [*hooks.get("request", []), hook]
        client.event_hooks = hooks
    else:
        raise TypeError(f"trace_httpx() takes an httpx client, not {type(client).__name__}")
    return client


def trace_requests(session: requests.Session) -> requests.Session:
    """Make every request sent by a ``requests.Session`` carry the current trace context."""
    import requests

    if not isinstance(session, requests.Session):
        raise TypeError(f"trace_requests() takes a requests.Session, not {type(session).__name__}")
    send = session.send

    def traced_send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        propagate.inject(request.headers)
        return send(request, **kwargs)

    session.send = traced_send  # type: ignore[method-assign]
    return session
