"""Apps and clients for the health tests: one bare ASGI app and one bare WSGI app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient
from werkzeug.test import Client

from erp_professional import Professional, integrate
from erp_professional.health import HealthRegistry

# Checks that need nothing outside the process, so endpoint tests see only what they add.
QUIET = {
    "security__enabled": False,
    "flags__enabled": False,
    "queue__enabled": False,
    "health__memory": False,
    "health__event_loop_lag": False,
    "health__breakers": False,
}


def new_asgi_app() -> Callable[..., Any]:
    """A fresh bare ASGI app (integrate() marks each app once)."""

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})

    return asgi_app


def new_wsgi_app() -> Callable[..., Any]:
    """A fresh bare WSGI app."""

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"app"]

    return wsgi_app


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class Service:
    """An integrated app with a uniform ``get`` on either driver."""

    kind: str
    pro: Professional
    get: Callable[..., Answer]

    @property
    def health(self) -> HealthRegistry:
        registry = self.pro.health
        assert isinstance(registry, HealthRegistry)
        return registry


@pytest.fixture(params=["asgi", "wsgi"])
def make_service(request: pytest.FixtureRequest) -> Iterator[Callable[..., Service]]:
    """Build an integrated bare app on the parametrised driver with config overrides."""
    kind: str = request.param
    closers: list[Callable[[], None]] = []

    def make(**overrides: Any) -> Service:
        options = {**QUIET, **overrides}
        if kind == "asgi":
            pro = integrate(new_asgi_app(), **options)
            client = TestClient(pro)
            client.__enter__()
            closers.append(lambda: client.__exit__(None, None, None))

            def get(
                path: str, headers: dict[str, str] | None = None, method: str = "GET"
            ) -> Answer:
                res = client.request(method, path, headers=headers)
                return Answer(res.status_code, dict(res.headers), res.text)

        else:
            pro = integrate(new_wsgi_app(), **options)
            wclient = Client(pro)
            closers.append(pro.shutdown)

            def get(
                path: str, headers: dict[str, str] | None = None, method: str = "GET"
            ) -> Answer:
                res = wclient.open(path, method=method, headers=headers or {})
                try:
                    return Answer(res.status_code, dict(res.headers), res.get_data(as_text=True))
                finally:
                    res.close()

        return Service(kind, pro, get)

    yield make
    for close in reversed(closers):
        close()
