"""Tiny bare ASGI and WSGI apps wrapped by integrate(), driven through one client API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from erp_professional import integrate
from erp_professional.hub import Professional

APP_HEADERS = [("Server", "gunicorn/21"), ("X-Powered-By", "PHP/8"), ("X-AspNet-Version", "4")]


def asgi_echo() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        payload = json.dumps(
            {"path": scope["path"], "method": scope["method"], "received": body.decode("latin-1")}
        ).encode()
        headers = [(k.lower().encode(), v.encode()) for k, v in APP_HEADERS]
        headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def wsgi_echo() -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        body = stream.read(int(length)) if length else stream.read()
        payload = json.dumps(
            {
                "path": environ["PATH_INFO"],
                "method": environ["REQUEST_METHOD"],
                "received": body.decode("latin-1"),
            }
        ).encode()
        start_response("200 OK", [*APP_HEADERS, ("Content-Type", "application/json")])
        return [payload]

    return app


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.raw_headers if k.lower() == name.lower()]


class Client:
    """Same calls under ASGI (Starlette's TestClient) and WSGI (werkzeug's Client)."""

    def __init__(self, kind: str, pro: Professional, https: bool = False) -> None:
        self.kind = kind
        self.pro = pro
        base = "https://testserver" if https else "http://testserver"
        if kind == "asgi":
            from starlette.testclient import TestClient

            self._asgi = TestClient(pro, base_url=base, raise_server_exceptions=False)
        else:
            from werkzeug.test import Client as WClient

            self._wsgi = WClient(pro, use_cookies=False)
            self._base = base

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Result:
        headers = dict(headers or {})
        if self.kind == "asgi":
            response = self._asgi.request(method, path, headers=headers, content=body)
            raw = [(k, v) for k, v in response.headers.multi_items()]
            return Result(
                response.status_code,
                {k.lower(): v for k, v in raw},
                response.content,
                raw,
            )
        headers.setdefault("Host", "testserver")
        response = self._wsgi.open(
            path, method=method, headers=headers, data=body, base_url=self._base
        )
        raw = list(response.headers.items())
        data = response.get_data()
        response.close()
        return Result(response.status_code, {k.lower(): v for k, v in raw}, data, raw)

    def close(self) -> None:
        if self.kind == "asgi":
            self._asgi.close()
        self.pro.shutdown()


Factory = Callable[..., Client]


def make_client(kind: str, https: bool = False, app: Any = None, **config: Any) -> Client:
    target = app if app is not None else (asgi_echo() if kind == "asgi" else wsgi_echo())
    pro = integrate(target, **config)
    return Client(kind, pro, https=https)


def clients(kind: str) -> Iterator[Factory]:
    made: list[Client] = []

    def factory(https: bool = False, app: Any = None, **config: Any) -> Client:
        client = make_client(kind, https=https, app=app, **config)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


def asgi_call(
    app: Any,
    method: str = "GET",
    path: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    client: tuple[str, int] = ("203.0.113.7", 5000),
    scheme: str = "http",
    query: str = "",
) -> Result:
    """One request through an ASGI app with full control of the scope (peer, scheme)."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers or []],
        "client": client,
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
    data = b"".join(m.get("body", b"") for m in sent[1:])
    return Result(start["status"], {k.lower(): v for k, v in raw}, data, raw)


def wsgi_call(
    app: Any,
    method: str = "GET",
    path: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    remote_addr: str = "203.0.113.7",
    scheme: str = "http",
    send_length: bool = True,
    query: str = "",
) -> Result:
    """One request through a WSGI app with full control of the environ."""
    import io

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body and send_length:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers or []:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    status: list[str] = []
    raw: list[tuple[str, str]] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status[:] = [line]
        raw[:] = headers
        return lambda data: None

    iterable = app(environ, start_response)
    try:
        data = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return Result(int(status[0][:3]), {k.lower(): v for k, v in raw}, data, list(raw))
