"""The HTTP server span concern: one SERVER span per request, OTel HTTP semconv."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from ..web import Concern, Exchange
from . import _decorators
from ._fastspan import ServerSpan, parent_or_remote, start_server_span
from ._paths import normalize_method
from ._propagation import remote_parent, scan_headers
from ._tracing import _Provider

__all__ = ["AGENT_KEY", "SPAN_KEY", "TracingConcern"]

SPAN_KEY = "otel.span"
AGENT_KEY = "user_agent"  # the User-Agent found while scanning for trace context
_TOKEN_KEY = "otel.context_token"  # noqa: S105 - a dict key, not a secret
log = logging.getLogger("erp_professional.observability")


class TracingConcern(Concern):
    """Starts the request's SERVER span before the app runs and ends it on completion.

    The span is named ``{method} {route template}`` (just ``{method}`` when no route
    matched: never the raw path). Its parent is the incoming W3C ``traceparent`` when it
    is well-formed; a malformed one starts a new trace. 5xx responses and unhandled
    exceptions set error status; 4xx leave it unset, as a server span should.
    """

    name: ClassVar[str] = "tracing"
    order: ClassVar[int] = 10

    def __init__(self, excluded: Callable[[str], bool] = lambda path: False) -> None:
        self.excluded = excluded

    def on_request(self, exchange: Exchange) -> None:
        if self.excluded(exchange.path):
            return
        scanned = scan_headers(exchange.headers)
        parent, parent_context = remote_parent(exchange.headers, scanned)
        method = normalize_method(exchange.method)
        attributes: dict[str, AttributeValue] = {
            "http.request.method": method,
            "url.path": exchange.path,
            "url.scheme": exchange.scheme,
        }
        if method == "_OTHER":
            attributes["http.request.method_original"] = exchange.method
        client = exchange.client
        if client is not None:
            attributes["client.address"] = client
        agent = scanned[3]
        if agent is not None:
            attributes["user_agent.original"] = agent
        name = "HTTP" if method == "_OTHER" else method
        provider = trace.get_tracer_provider()
        span: Span
        if isinstance(provider, _Provider):
            span = start_server_span(provider, name, parent, attributes, parent_context)
        else:
            tracer = _decorators._tracer or _decorators._get_tracer()
            parent = parent_or_remote(parent, parent_context)
            span = tracer.start_span(
                name, context=parent, kind=SpanKind.SERVER, attributes=attributes
            )
        state = exchange.state
        state[SPAN_KEY] = span
        state[AGENT_KEY] = agent
        state[_TOKEN_KEY] = otel_context.attach(trace.set_span_in_context(span, parent))

    def on_complete(self, exchange: Exchange) -> None:
        state = exchange.state
        span: Span | None = state.get(SPAN_KEY)
        if span is None:
            return
        if span.is_recording():
            _finish(span, exchange)
        span.end()
        token = state.pop(_TOKEN_KEY, None)
        if token is not None:
            try:
                token.var.reset(token)  # the contextvars token behind otel's attach()
            except (ValueError, RuntimeError):
                # Completion ran in another context than the request (a WSGI server that
                # closes bodies elsewhere): that context never saw the span attached.
                log.debug("server span context detached from another context")


def _finish(span: Span, exchange: Exchange) -> None:
    route = exchange.route
    status = exchange.status
    if type(span) is ServerSpan:
        # Our own span, still recording: the values are known to be valid.
        attributes = span._attrs
        if route is not None:
            method = attributes.get("http.request.method")
            span._name = f"{'HTTP' if method == '_OTHER' else method} {route}"
            attributes["http.route"] = route
        if status is not None:
            attributes["http.response.status_code"] = status
            if status < 500 and exchange.error is None and exchange.response_complete:
                return
    else:
        method = normalize_method(exchange.method)
        if route is not None:
            span.update_name(f"{'HTTP' if method == '_OTHER' else method} {route}")
            span.set_attribute("http.route", route)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
    error = exchange.error
    if error is not None:
        span.record_exception(error)
        span.set_attribute("error.type", type(error).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    elif status is not None and status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
    elif status is None or not exchange.response_complete:
        span.set_attribute("error.type", "incomplete")
        span.set_status(Status(StatusCode.ERROR, "the response was not completed"))
