"""W3C trace context in and out: extraction from a request, injection into outgoing calls."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

from ..web import RequestHeaders

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


def extract_context(headers: RequestHeaders) -> Context | None:
    """The remote parent from ``traceparent``/``tracestate``/``baggage``, or ``None``.

    A malformed ``traceparent`` yields a context without a span: a new trace starts,
    silently, as the W3C recommendation asks.
    """
    if headers.get("traceparent") is None and headers.get("baggage") is None:
        return None
    return propagate.extract(headers, getter=_GETTER)


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
