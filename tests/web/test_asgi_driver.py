"""The pure ASGI driver: streaming, lifespan, websockets, errors, limits, rejections."""

import asyncio
import json
import tracemalloc
from typing import Any

import pytest

from erp_professional import integrate
from erp_professional.web import Concern, Exchange, Response, ResponseHeaders, problem

from .asgi_helpers import headers_of, http_scope, run


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"hello"})


def make_hello() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await hello(scope, receive, send)

    return app


def test_streams_fifty_megabytes_without_buffering() -> None:
    chunk = b"x" * (1024 * 1024)
    total = 50

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(total):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    pro = integrate(stream)
    received = 0
    peak_during_stream = 0

    async def main() -> None:
        nonlocal received, peak_during_stream

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(3600)
            return {}

        async def send(message: dict[str, Any]) -> None:
            nonlocal received, peak_during_stream
            if message["type"] == "http.response.body":
                received += len(message["body"])
                peak_during_stream = max(peak_during_stream, tracemalloc.get_traced_memory()[0])

        await pro(http_scope("/big"), receive, send)

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        asyncio.run(main())
    finally:
        tracemalloc.stop()
    assert received == total * len(chunk)
    # Flat memory: never more than a few chunks above the baseline, far below 50 MB.
    assert peak_during_stream - baseline < 5 * len(chunk)


def test_lifespan_messages_pass_through_and_hooks_run_after_app_startup() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        message = await receive()
        assert message == {"type": "lifespan.startup"}
        events.append("app startup")
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message == {"type": "lifespan.shutdown"}
        events.append("app shutdown")
        await send({"type": "lifespan.shutdown.complete"})

    pro = integrate(app)
    pro.on_startup(lambda: events.append("toolkit startup"))
    pro.on_drain(lambda: events.append("toolkit drain"))
    pro.on_shutdown(lambda: events.append("toolkit shutdown"))
    server_got: list[dict[str, Any]] = []
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        server_got.append(message)

    asyncio.run(pro({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert server_got == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert events == [
        "app startup",
        "toolkit startup",
        "toolkit drain",
        "app shutdown",
        "toolkit shutdown",
    ]
    assert pro.closed


def test_failing_toolkit_startup_is_reported_as_startup_failed() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()

    pro = integrate(app)

    def broken() -> None:
        raise RuntimeError("cannot reach the flag store")

    pro.on_startup(broken)
    got: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if got:
            await asyncio.sleep(0)
            return {"type": "lifespan.shutdown"}
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        got.append(message)

    asyncio.run(pro({"type": "lifespan"}, receive, send))
    assert got[0]["type"] == "lifespan.startup.failed"
    assert "cannot reach the flag store" in got[0]["message"]


def test_app_without_lifespan_support_still_gets_toolkit_startup_and_shutdown() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("only http")
        await hello(scope, receive, send)

    pro = integrate(app)
    events: list[str] = []
    pro.on_startup(lambda: events.append("start"))
    pro.on_shutdown(lambda: events.append("stop"))
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    got: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        got.append(message)

    asyncio.run(pro({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in got] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["start", "stop"]


def test_app_ignoring_lifespan_still_gets_toolkit_startup() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await hello(scope, receive, send)

    pro = integrate(app)
    events: list[str] = []
    pro.on_startup(lambda: events.append("start"))
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    got: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        got.append(message)

    asyncio.run(pro({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in got] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["start"]
    assert pro.closed


def test_websocket_scope_passes_through_untouched() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["scope"], seen["receive"], seen["send"] = scope, receive, send

    pro = integrate(app)
    scope = {"type": "websocket", "path": "/ws", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        return None

    asyncio.run(pro(scope, receive, send))
    assert seen["scope"] is scope
    assert seen["receive"] is receive
    assert seen["send"] is send
    assert "state" not in scope


def test_error_after_response_started_cuts_the_response_short() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("disk died mid-stream")

    pro = integrate(app)
    reported: list[Exchange] = []
    pro.pipeline.error_reporters.append(lambda ex, exc: reported.append(ex))
    sent = run(pro, http_scope())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[-1]["more_body"] is True  # never marked complete: the server drops it
    assert len(reported) == 1
    assert reported[0].status == 200
    assert isinstance(reported[0].error, RuntimeError)


class _Limit(Concern):
    name = "limit"

    def on_request(self, exchange: Exchange) -> None:
        exchange.body_limit = 10


def test_streamed_body_over_the_limit_is_a_413_problem() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        await hello(scope, receive, send)

    pro = integrate(app)
    pro.add_concern(_Limit())
    sent = run(pro, http_scope(method="POST"), body=[b"12345", b"67890", b"X"])
    assert sent[0]["status"] == 413
    assert headers_of(sent[0])["content-type"] == "application/problem+json"
    body = json.loads(sent[1]["body"])
    assert body["status"] == 413
    assert body["request_id"] == headers_of(sent[0])["x-request-id"]
    ok = run(pro, http_scope(method="POST"), body=[b"12345", b"67890"])
    assert ok[0]["status"] == 200


class _RejectAll(Concern):
    name = "reject"
    order = 50

    def on_request(self, exchange: Exchange) -> Response:
        return problem(429, "slow down", request_id=exchange.request_id)


class _Stamp(Concern):
    name = "stamp"
    order = 10
    completed: list[int | None]

    def __init__(self) -> None:
        self.completed = []

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        headers.set("X-Stamp", "yes")

    def on_complete(self, exchange: Exchange) -> None:
        self.completed.append(exchange.status)


def test_rejection_runs_response_and_completion_hooks_and_skips_the_app() -> None:
    called: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    pro = integrate(app)
    stamp = _Stamp()
    pro.add_concern(stamp)
    pro.add_concern(_RejectAll())
    sent = run(pro, http_scope())
    headers = headers_of(sent[0])
    assert sent[0]["status"] == 429
    assert headers["x-stamp"] == "yes"
    assert "x-request-id" in headers
    assert headers["content-length"] == str(len(sent[1]["body"]))
    assert stamp.completed == [429]
    assert called == []


def test_app_headers_are_kept_and_hooks_add_theirs() -> None:
    pro = integrate(make_hello())
    pro.add_concern(_Stamp())
    sent = run(pro, http_scope())
    headers = headers_of(sent[0])
    assert headers["x-app"] == "1"
    assert headers["x-stamp"] == "yes"
    assert sent[1]["body"] == b"hello"


class _AsyncConcern(Concern):
    name = "async"

    async def on_request_async(self, exchange: Exchange) -> Response | None:
        await asyncio.sleep(0)
        if exchange.headers.get("x-deny"):
            return problem(403)
        return None


def test_async_request_hooks_are_awaited() -> None:
    pro = integrate(make_hello())
    pro.add_concern(_AsyncConcern())
    assert run(pro, http_scope(headers={"X-Deny": "1"}))[0]["status"] == 403
    assert run(pro, http_scope())[0]["status"] == 200


def test_head_on_an_endpoint_has_length_but_no_body() -> None:
    pro = integrate(make_hello())
    sent = run(pro, http_scope("/_pro/info", method="HEAD"))
    assert sent[0]["status"] == 200
    assert int(headers_of(sent[0])["content-length"]) > 0
    assert sent[1]["body"] == b""


def test_async_endpoints_are_awaited() -> None:
    pro = integrate(make_hello())

    async def ping(exchange: Exchange) -> Response:
        await asyncio.sleep(0)
        return Response.text("pong")

    pro.add_endpoint("/ping", ping)
    sent = run(pro, http_scope("/_pro/ping"))
    assert sent[1]["body"] == b"pong"


def test_prefix_only_matches_whole_segments() -> None:
    pro = integrate(make_hello())
    sent = run(pro, http_scope("/_profile"))
    assert sent[1]["body"] == b"hello"


def test_duplicate_concerns_and_endpoints_are_refused() -> None:
    pro = integrate(make_hello())
    pro.add_concern(_Stamp())
    with pytest.raises(ValueError, match="already"):
        pro.add_concern(_Stamp())
    with pytest.raises(ValueError, match="already"):
        pro.add_endpoint("/info", lambda ex: Response.text("x"))
