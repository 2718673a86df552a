"""The same tiny service in every supported framework, and one client interface for all."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from erp_professional import Professional, integrate


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class Client:
    """Sends requests to an ASGI or WSGI app in-process."""

    def __init__(self, app: Any, kind: str) -> None:
        self.kind = kind
        if kind == "asgi":
            from starlette.testclient import TestClient

            self._client: Any = TestClient(app, raise_server_exceptions=False)
            self._client.__enter__()
        else:
            from werkzeug.test import Client as WerkzeugClient

            self._client = WerkzeugClient(app)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Result:
        return self.request("GET", path, headers)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Result:
        response = (
            self._client.open(path, method=method, headers=headers or {})
            if (self.kind == "wsgi")
            else self._client.request(method, path, headers=headers or {})
        )
        body = response.data if self.kind == "wsgi" else response.content
        status = response.status_code
        result_headers = {k.lower(): v for k, v in response.headers.items()}
        if self.kind == "wsgi":
            response.close()
        return Result(status, result_headers, body)

    def close(self) -> None:
        if self.kind == "asgi":
            self._client.__exit__(None, None, None)


def fastapi_app() -> tuple[Any, Professional, str]:
    from fastapi import FastAPI, Request

    app = FastAPI()

    @app.get("/hello/{name}")
    def hello(name: str, request: Request) -> dict[str, str]:
        return {"hello": name, "request_id": request.state.request_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    return app, integrate(app), "asgi"


def starlette_app() -> tuple[Any, Professional, str]:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse(
            {"hello": request.path_params["name"], "request_id": request.state.request_id}
        )

    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("database password is hunter2")

    app = Starlette(routes=[Route("/hello/{name}", hello), Route("/boom", boom)])
    return app, integrate(app), "asgi"


def flask_app() -> tuple[Any, Professional, str]:
    from flask import Flask, g

    app = Flask("behaviour")

    @app.get("/hello/<name>")
    def hello(name: str) -> dict[str, str]:
        return {"hello": name, "request_id": g.request_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    return app, integrate(app), "wsgi"


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    import django

    django.setup()


def django_wsgi_app() -> tuple[Any, Professional, str]:
    _django_setup()
    from django.core.wsgi import get_wsgi_application

    pro = integrate(get_wsgi_application())
    return pro, pro, "wsgi"


def django_asgi_app() -> tuple[Any, Professional, str]:
    _django_setup()
    from django.core.asgi import get_asgi_application

    pro = integrate(get_asgi_application())
    return pro, pro, "asgi"


def bare_asgi_app() -> tuple[Any, Professional, str]:
    import json

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/boom":
            raise RuntimeError("database password is hunter2")
        name = scope["path"].rsplit("/", 1)[-1]
        body = json.dumps({"hello": name, "request_id": scope["state"]["request_id"]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    pro = integrate(app)
    return pro, pro, "asgi"


def bare_wsgi_app() -> tuple[Any, Professional, str]:
    import json

    def app(environ: Any, start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("database password is hunter2")
        name = environ["PATH_INFO"].rsplit("/", 1)[-1]
        body = json.dumps(
            {"hello": name, "request_id": environ["erp_professional.request_id"]}
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    pro = integrate(app)
    return pro, pro, "wsgi"


FACTORIES: dict[str, Callable[[], tuple[Any, Professional, str]]] = {
    "fastapi": fastapi_app,
    "starlette": starlette_app,
    "flask": flask_app,
    "django-wsgi": django_wsgi_app,
    "django-asgi": django_asgi_app,
    "bare-asgi": bare_asgi_app,
    "bare-wsgi": bare_wsgi_app,
}
