"""The security stack in a real server: uvicorn on 127.0.0.1, Redis-backed limits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from erp_professional import integrate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(redis_url: str) -> Iterator[str]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Any) -> JSONResponse:
        return JSONResponse({"data": await request.json()})

    async def home(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/", home), Route("/echo", echo, methods=["POST"])])
    integrate(
        app,
        security__rate_limit__default="5/minute",
        security__rate_limit__storage_url=redis_url,
        security__body__json_max_depth=4,
    )
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def test_real_server_limits_headers_csrf_and_json(server: str) -> None:
    with httpx.Client(base_url=server, timeout=5) as client:
        first = client.get("/")
        assert first.status_code == 200
        assert first.headers["x-frame-options"] == "SAMEORIGIN"
        assert first.headers["ratelimit-policy"] == '"5-per-1-minute";q=5;w=60'
        cross = client.post("/echo", json={"a": 1}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
        deep = client.post(
            "/echo", content=b"[[[[[1]]]]]", headers={"Content-Type": "application/json"}
        )
        assert deep.status_code == 400
        ok = client.post("/echo", json={"a": [1, 2]})
        assert ok.status_code == 200 and ok.json() == {"data": {"a": [1, 2]}}
        statuses = [client.get("/").status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
