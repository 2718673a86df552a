"""Outgoing calls carry the current trace context (httpx, requests, plain headers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.observability import inject_trace_headers, span, trace_httpx, trace_requests
from erp_professional.observability._propagation import parse_traceparent

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


def _reference_parse(value: str) -> tuple[int, int, int] | None:
    """The W3C traceparent rules, checked field by field (no regular expression)."""
    value = value.strip()
    digits = set("0123456789abcdef")
    if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    version, trace_hex, span_hex, flags, rest = (
        value[0:2],
        value[3:35],
        value[36:52],
        value[53:55],
        value[55:],
    )
    if not set(version + trace_hex + span_hex + flags) <= digits or version == "ff":
        return None
    if rest and (version == "00" or rest[0] != "-" or "\n" in rest):
        return None  # version 00 ends at the flags; later versions may add "-" fields
    if set(trace_hex) == {"0"} or set(span_hex) == {"0"}:
        return None
    return int(trace_hex, 16), int(span_hex, 16), int(flags, 16)


_HEX = "0123456789abcdef"
_hex = st.text(_HEX, min_size=0, max_size=34)
_noise = st.text(_HEX + "ABCDEF-_+ xg0\t", max_size=4)


@settings(max_examples=600, deadline=None)
@given(
    version=st.sampled_from(["00", "01", "ff", "0", "000", "AA", "0x"]) | _noise,
    trace_hex=st.sampled_from(["0af7651916cd43dd8448eb211c80319c", "0" * 32]) | _hex,
    span_hex=st.sampled_from(["b7ad6b7169203331", "0" * 16]) | _hex,
    flags=st.sampled_from(["01", "00", "ff", "1", "0x"]) | _noise,
    tail=st.sampled_from(["", "-extra", "-", " "]) | _noise,
    lead=st.sampled_from(["", " ", "\t"]),
)
def test_traceparent_parsing_matches_the_w3c_rules(
    version: str, trace_hex: str, span_hex: str, flags: str, tail: str, lead: str
) -> None:
    value = f"{lead}{version}-{trace_hex}-{span_hex}-{flags}{tail}"
    parsed = parse_traceparent(value)
    expected = _reference_parse(value)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None and parsed.is_remote and parsed.is_valid
        assert (parsed.trace_id, parsed.span_id, int(parsed.trace_flags)) == expected
