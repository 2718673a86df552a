"""The WSGI driver: start_response wrapping, errors, limits, and close() on every path."""

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from erp_professional import integrate
from erp_professional.web import Concern, Exchange, Response, problem


def environ(
    path: str = "/", method: str = "GET", body: bytes = b"", **headers: str
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)) if body else "",
    }
    for key, value in headers.items():
        env["HTTP_" + key.upper()] = value
    return env


class Server:
    """Plays the server's part: records start_response calls and consumes the body."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if exc_info is not None and self.calls and self.sent_body:
            raise exc_info[1].with_traceback(exc_info[2])
        self.calls.append((status, headers, exc_info))
        return self.write

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def serve(self, app: Any, env: dict[str, Any], read: int | None = None) -> bytes:
        self.written: list[bytes] = []
        self.sent_body = False
        iterable = app(env, self.start_response)
        chunks: list[bytes] = []
        try:
            for index, chunk in enumerate(iterable):
                if read is not None and index >= read:
                    break  # the client went away
                if chunk:
                    self.sent_body = True
                chunks.append(chunk)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        return b"".join(self.written + chunks)

    @property
    def status(self) -> int:
        return int(self.calls[-1][0][:3])

    @property
    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.calls[-1][1]}


class Tracked:
    """A body iterable that records whether close() was called."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("body generation failed")
            yield chunk

    def close(self) -> None:
        self.closed += 1


def make_app(body: Tracked, headers: list[tuple[str, str]] | None = None) -> Any:
    def app(env: Any, start_response: Any) -> Tracked:
        start_response("200 OK", headers or [("Content-Type", "text/plain")])
        return body

    return app


def test_close_is_called_after_normal_iteration() -> None:
    body = Tracked([b"a", b"b"])
    server = Server()
    assert server.serve(integrate(make_app(body)), environ()) == b"ab"
    assert body.closed == 1
    assert server.status == 200
    assert "x-request-id" in server.headers


def test_close_is_called_when_the_client_goes_away() -> None:
    body = Tracked([b"a", b"b", b"c"])
    Server().serve(integrate(make_app(body)), environ(), read=1)
    assert body.closed == 1


def test_failure_before_any_byte_becomes_a_500_problem_and_closes() -> None:
    body = Tracked([b"a", b"b"], fail_at=0)
    pro = integrate(make_app(body))
    reported: list[BaseException] = []
    pro.pipeline.error_reporters.append(lambda ex, exc: reported.append(exc))
    server = Server()
    out = server.serve(pro, environ(X_REQUEST_ID="abc"))
    assert server.status == 500
    assert server.calls[-1][2] is not None  # replaced with exc_info, as PEP 3333 asks
    assert json.loads(out)["request_id"] == "abc"
    assert server.headers["content-type"] == "application/problem+json"
    assert body.closed == 1
    assert len(reported) == 1


def test_failure_after_bytes_were_sent_propagates_and_still_closes() -> None:
    body = Tracked([b"a", b"b"], fail_at=1)
    pro = integrate(make_app(body))
    reported: list[BaseException] = []
    pro.pipeline.error_reporters.append(lambda ex, exc: reported.append(exc))
    with pytest.raises(RuntimeError, match="body generation failed"):
        Server().serve(pro, environ())
    assert body.closed == 1
    assert len(reported) == 1


def test_app_raising_before_returning_gets_a_problem() -> None:
    def app(env: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        raise KeyError("secret-key-name")

    server = Server()
    out = server.serve(integrate(app), environ())
    assert server.status == 500
    assert b"secret-key-name" not in out
    assert json.loads(out)["title"] == "Internal Server Error"


def test_write_callable_still_works() -> None:
    def app(env: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"legacy ")
        return [b"body"]

    assert Server().serve(integrate(app), environ()) == b"legacy body"


class _Reject(Concern):
    name = "reject"

    def on_request(self, exchange: Exchange) -> Response:
        return problem(401, "who are you?", request_id=exchange.request_id)


def test_rejection_never_calls_the_app() -> None:
    body = Tracked([b"a"])
    pro = integrate(make_app(body))
    pro.add_concern(_Reject())
    server = Server()
    out = server.serve(pro, environ())
    assert server.status == 401
    assert json.loads(out)["detail"] == "who are you?"
    assert body.closed == 0


class _Limit(Concern):
    name = "limit"

    def on_request(self, exchange: Exchange) -> None:
        exchange.body_limit = 4


def test_reading_past_the_body_limit_is_a_413() -> None:
    def app(env: Any, start_response: Any) -> list[bytes]:
        data = env["wsgi.input"].read()
        start_response("200 OK", [])
        return [data]

    pro = integrate(app)
    pro.add_concern(_Limit())
    server = Server()
    out = server.serve(pro, environ(method="POST", body=b"123456"))
    assert server.status == 413
    assert json.loads(out)["status"] == 413
    assert server.serve(pro, environ(method="POST", body=b"1234")) == b"1234"


def test_percent_encoded_utf8_paths_are_decoded() -> None:
    seen: list[str] = []

    class Spy(Concern):
        name = "spy"

        def on_request(self, exchange: Exchange) -> None:
            seen.append(exchange.path)

    pro = integrate(make_app(Tracked([b""])))
    pro.add_concern(Spy())
    Server().serve(pro, environ("/caf\xc3\xa9"))
    assert seen == ["/café"]


def test_request_context_never_leaks_into_the_server_thread() -> None:
    from erp_professional.web import current_exchange, current_request_id

    seen: list[str | None] = []

    def app(env: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        seen.append(current_request_id())
        yield b"chunk"
        seen.append(current_request_id())

    pro = integrate(app)
    iterable = pro(environ(X_REQUEST_ID="ctx-1"), Server().start_response)
    assert list(iterable) == [b"chunk"]  # the server iterates but never calls close()
    assert seen == ["ctx-1", "ctx-1"]
    assert current_exchange() is None


class _AsyncOnly(Concern):
    name = "async-only"

    async def on_request_async(self, exchange: Exchange) -> Response | None:
        return problem(403) if exchange.headers.get("x-deny") else None


def test_async_only_concerns_still_run_under_wsgi() -> None:
    pro = integrate(make_app(Tracked([b"ok"])))
    pro.add_concern(_AsyncOnly())
    denied = Server()
    denied.serve(pro, environ(X_DENY="1"))
    assert denied.status == 403
    allowed = Server()
    assert allowed.serve(pro, environ()) == b"ok"
    assert allowed.status == 200
