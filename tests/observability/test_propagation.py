"""Outgoing calls carry the current trace context (httpx, requests, plain headers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests

from erp_professional.observability import inject_trace_headers, span, trace_httpx, trace_requests

from .conftest import Spans


def traceparent_of(current: object) -> str:
    context = current.get_span_context()  # type: ignore[attr-defined]
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def test_inject_into_a_mapping(spans: Spans) -> None:
    assert "traceparent" not in inject_trace_headers()
    with span("outer") as current:
        headers = inject_trace_headers({"accept": "application/json"})
    assert headers["accept"] == "application/json"
    assert headers["traceparent"] == traceparent_of(current)


def test_httpx_sync_client(spans: Spans) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    client = trace_httpx(httpx.Client(transport=httpx.MockTransport(handler)))
    with span("calling") as current:
        client.get("http://upstream.test/items")
    client.get("http://upstream.test/items")
    assert seen[0].headers["traceparent"] == traceparent_of(current)
    assert "traceparent" not in seen[1].headers


@pytest.mark.anyio
async def test_httpx_async_client(spans: Spans) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    client = trace_httpx(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    async with span("calling") as current:
        await client.get("http://upstream.test/items")
    await client.aclose()
    assert seen[0].headers["traceparent"] == traceparent_of(current)


class _Recorder(BaseHTTPRequestHandler):
    headers_seen: list[dict[str, str]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        _Recorder.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.headers_seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_requests_session(spans: Spans, upstream: str) -> None:
    session = trace_requests(requests.Session())
    with span("calling") as current:
        assert session.get(upstream, timeout=5).status_code == 204
    session.close()
    assert _Recorder.headers_seen[0]["traceparent"] == traceparent_of(current)


def test_helpers_reject_other_objects() -> None:
    with pytest.raises(TypeError):
        trace_httpx(object())  # type: ignore[type-var]
    with pytest.raises(TypeError):
        trace_requests(object())  # type: ignore[arg-type]
