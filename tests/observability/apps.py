"""Tiny bare ASGI and WSGI apps wrapped by integrate(), driven through real test clients."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient
from werkzeug.test import Client

from erp_professional import Professional, integrate
from erp_professional.observability import inject_trace_headers

ROUTES = {"/items/": "/items/{item_id}", "/fail": "/fail", "/missing": None, "/error": "/error"}


def _route(path: str) -> str | None:
    for prefix, template in ROUTES.items():
        if path.startswith(prefix):
            return template
    return None


def _status(path: str) -> int:
    if path.startswith("/missing"):
        return 404
    if path.startswith("/error"):
        return 503
    return 200


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path.startswith("/fail"):
        raise RuntimeError("token=abc123 exploded")
    body = json.dumps({"outgoing": dict(inject_trace_headers())}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": _status(path),
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path.startswith("/fail"):
        raise RuntimeError("token=abc123 exploded")
    body = json.dumps({"outgoing": dict(inject_trace_headers())}).encode()
    start_response(f"{_status(path)} X", [("Content-Type", "application/json")])
    return [body]


def _fresh_asgi() -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asgi_app(scope, receive, send)

    return app


def _fresh_wsgi() -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return wsgi_app(environ, start_response)

    return app


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Driven:
    """One integrate()-d bare app and a way to call it, the same for ASGI and WSGI."""

    def __init__(self, kind: str, **overrides: Any) -> None:
        self.kind = kind
        app = _fresh_asgi() if kind == "asgi" else _fresh_wsgi()
        self.pro: Professional = integrate(app, **overrides)
        self.pro.pipeline.route_resolver = lambda ex: _route(ex.path)
        self._asgi = TestClient(self.pro, raise_server_exceptions=False) if kind == "asgi" else None
        self._wsgi = Client(self.pro) if kind == "wsgi" else None

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        if self._asgi is not None:
            r = self._asgi.get(path, headers=headers or {})
            return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)
        assert self._wsgi is not None
        w = self._wsgi.get(path, headers=headers or {}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        body = w.get_data()
        w.close()  # a WSGI server closes the body iterable: completion hooks run then
        return Reply(w.status_code, {k.lower(): v for k, v in w.headers.items()}, body)

    def close(self) -> None:
        if self._asgi is not None:
            self._asgi.close()
        self.pro.shutdown()
