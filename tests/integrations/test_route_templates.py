"""Route templates reported for Starlette and FastAPI apps: plain, mounted, routers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from erp_professional import integrate
from erp_professional.web import Concern, Exchange

Seen = list[tuple[str, str | None]]


async def _call(app: Any, path: str, method: str = "GET", root_path: str = "") -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _watch(pro: Any) -> Seen:
    seen: Seen = []
    original = pro.pipeline.route_resolver

    def resolver(exchange: Exchange) -> str | None:
        route = original(exchange)
        seen.append((exchange.path, route))
        return route

    pro.pipeline.route_resolver = resolver
    return seen


def _text(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _other(request: Request) -> PlainTextResponse:
    return PlainTextResponse("other")


def starlette_app() -> Starlette:
    inner = [Route("/reports/{year}", _other)]
    return Starlette(
        routes=[
            Route("/items/{item_id}", _text, methods=["GET", "POST"]),
            Route("/a/{x}", _other),
            Route("/b/{y}", _other),  # the same endpoint under two templates
            Mount("/admin", routes=inner),
        ]
    )


def fastapi_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/orders")

    @router.get("/{order_id}")
    def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.include_router(router)
    sub = FastAPI()

    @sub.get("/health/{part}")
    def part(part: str) -> dict[str, str]:
        return {"part": part}

    app.mount("/sub", sub)
    return app


STARLETTE_CASES = [
    ("GET", "/items/7", "/items/{item_id}"),
    ("POST", "/items/7", "/items/{item_id}"),
    ("GET", "/a/1", "/a/{x}"),
    ("GET", "/b/2", "/b/{y}"),
    ("GET", "/admin/reports/2026", "/admin/reports/{year}"),
    ("GET", "/missing", None),
]
FASTAPI_CASES = [
    ("GET", "/items/3", "/items/{item_id}"),
    ("GET", "/orders/9", "/orders/{order_id}"),
    ("GET", "/sub/health/db", "/sub/health/{part}"),
    ("GET", "/nope", None),
]


@pytest.mark.parametrize(("method", "path", "route"), STARLETTE_CASES)
@pytest.mark.parametrize("root_path", ["", "/prefix"])
def test_starlette_route_templates(
    method: str, path: str, route: str | None, root_path: str
) -> None:
    app = starlette_app()
    pro = integrate(app)
    seen = _watch(pro)
    try:
        asyncio.run(_call(app, path, method, root_path))
    finally:
        pro.shutdown()
    assert seen == [(path, route)]


@pytest.mark.parametrize(("method", "path", "route"), FASTAPI_CASES)
def test_fastapi_route_templates(method: str, path: str, route: str | None) -> None:
    app = fastapi_app()
    pro = integrate(app)
    seen = _watch(pro)
    try:
        asyncio.run(_call(app, path, method))
    finally:
        pro.shutdown()
    assert seen == [(path, route)]


def test_routes_added_after_integrate_are_found() -> None:
    app = starlette_app()
    pro = integrate(app)
    seen = _watch(pro)
    try:
        asyncio.run(_call(app, "/items/1"))
        app.router.routes.append(Route("/late/{n}", _text))
        asyncio.run(_call(app, "/late/5"))
    finally:
        pro.shutdown()
    assert seen == [("/items/1", "/items/{item_id}"), ("/late/5", "/late/{n}")]


def test_route_asked_before_the_app_runs_is_asked_again_after() -> None:
    app = fastapi_app()
    pro = integrate(app)
    early: list[str | None] = []

    class AskEarly(Concern):
        name = "ask_early"
        order = 5

        def on_request(self, exchange: Exchange) -> None:
            early.append(exchange.route)

    pro.pipeline.add(AskEarly())
    seen = _watch(pro)
    try:
        asyncio.run(_call(app, "/items/3"))
        asyncio.run(_call(app, "/orders/4"))
    finally:
        pro.shutdown()
    # A plain route is known before the app runs; an included router's only afterwards.
    assert early == ["/items/{item_id}", None]
    assert seen[-1] == ("/orders/4", "/orders/{order_id}")
