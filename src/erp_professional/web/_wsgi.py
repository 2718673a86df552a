"""The WSGI driver: runs the same pipeline around a WSGI app.

It wraps ``start_response`` and the body iterable, and always calls the iterable's
``close()``: on normal completion, when the client goes away, and when iteration fails.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, BinaryIO

from ._concern import Endpoint, Pipeline
from ._exchange import Exchange, _current
from ._headers import WsgiResponseHeaders
from ._problem import HTTPProblem, RequestBodyTooLarge, Response, problem_for_exception

Environ = MutableMapping[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class WsgiDriver:
    """Wraps a WSGI app with the pipeline."""

    def __init__(self, app: WSGIApp, pipeline: Pipeline) -> None:
        self.app = app
        self.pipeline = pipeline

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # Each request runs in a context of its own, re-entered for every chunk and for
        # close(): what the request sets (its exchange, the active span) can never leak into
        # the server thread's next request, even when a server forgets to call close().
        context = contextvars.copy_context()
        return context.run(self._call, environ, start_response, context)

    def _call(
        self, environ: Environ, start_response: StartResponse, context: contextvars.Context
    ) -> Iterable[bytes]:
        pipeline = self.pipeline
        ex = Exchange.from_wsgi(environ, pipeline)
        _current.set(ex)
        try:
            response: Response | None = None
            for concern, only_async in pipeline.wsgi_request_hooks:
                if only_async:
                    response = asyncio.run(concern.on_request_async(ex))
                else:
                    response = concern.on_request(ex)
                if response is not None:
                    break
            if response is None and ex.path.startswith(pipeline.prefix):
                match = pipeline.match_endpoint(ex)
                if isinstance(match, Endpoint):
                    ex.route = pipeline.prefix + match.path
                    response = match.call(ex)
                else:
                    response = match
            if response is not None:
                return _Body(ex, pipeline, context, self._respond(ex, response, start_response))
            return self._run_app(ex, environ, start_response, context)
        except BaseException:
            pipeline.complete(ex)
            raise

    def _respond(
        self,
        ex: Exchange,
        response: Response,
        start_response: StartResponse,
        exc_info: ExcInfo | None = None,
    ) -> list[bytes]:
        headers = WsgiResponseHeaders(list(response.headers))
        headers.set("Content-Length", str(len(response.body)))
        ex.status = response.status
        self.pipeline.respond_headers(ex, headers)
        start_response(_status_line(response.status), headers.raw, exc_info)
        ex.response_started = True
        return [b""] if ex.method == "HEAD" else [response.body]

    def _run_app(
        self,
        ex: Exchange,
        environ: Environ,
        start_response: StartResponse,
        context: contextvars.Context,
    ) -> Iterable[bytes]:
        pipeline = self.pipeline

        def start_wrapper(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            ex.status = int(status[:3])
            if pipeline.response_hooks:
                wrapped = WsgiResponseHeaders(list(headers))
                pipeline.respond_headers(ex, wrapped)
                headers = wrapped.raw
            ex.response_started = True
            return start_response(status, headers, exc_info)

        if ex.body_limit is not None and "wsgi.input" in environ:
            environ["wsgi.input"] = _LimitedInput(environ["wsgi.input"], ex.body_limit)
        try:
            iterable = self.app(environ, start_wrapper)
        except Exception as exc:
            if not isinstance(exc, HTTPProblem):
                pipeline.report_error(ex, exc)
            body = self._respond(
                ex,
                problem_for_exception(exc, ex.request_id, pipeline.show_tracebacks),
                start_response,
                sys.exc_info() if ex.response_started else None,  # type: ignore[arg-type]
            )
            return _Body(ex, pipeline, context, body)
        return _Body(ex, pipeline, context, iterable, self, start_response)


class _Body:
    """The body iterable handed to the server: counts bytes, reports errors, always closes."""

    def __init__(
        self,
        ex: Exchange,
        pipeline: Pipeline,
        context: contextvars.Context,
        inner: Iterable[bytes],
        driver: WsgiDriver | None = None,
        start_response: StartResponse | None = None,
    ) -> None:
        self._ex = ex
        self._pipeline = pipeline
        self._context = context
        self._inner = inner
        self._iter: Iterator[bytes] | None = None
        self._driver = driver
        self._start_response = start_response
        self._yielded = False
        self._closed = False
        self._fallback: list[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return self._context.run(self._next)

    def _next(self) -> bytes:
        if self._fallback is not None:
            if not self._fallback:
                raise StopIteration
            return self._fallback.pop(0)
        if self._iter is None:
            self._iter = iter(self._inner)
        try:
            chunk = next(self._iter)
        except StopIteration:
            self._ex.response_complete = True
            raise
        except Exception as exc:
            ex, pipeline = self._ex, self._pipeline
            if not isinstance(exc, HTTPProblem):
                pipeline.report_error(ex, exc)
            if self._yielded or self._driver is None or self._start_response is None:
                raise  # bytes already went out: the server must cut the connection
            # Nothing was sent yet: the server still accepts a replacement status line.
            self._fallback = self._driver._respond(
                ex,
                problem_for_exception(exc, ex.request_id, pipeline.show_tracebacks),
                self._start_response,
                sys.exc_info(),  # type: ignore[arg-type]
            )
            return self._next()
        if chunk:
            self._yielded = True
            self._ex.bytes_sent += len(chunk)
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._context.run(self._close)

    def _close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._pipeline.complete(self._ex)


class _LimitedInput:
    """A ``wsgi.input`` that raises a 413 problem once more than ``limit`` bytes are read."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._seen = 0

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._limit:
            raise RequestBodyTooLarge(f"The request body is larger than {self._limit} bytes.")
        return data

    def read(self, size: int = -1) -> bytes:
        return self._count(
            self._stream.read(size) if size is not None and size >= 0 else self._stream.read()
        )

    def readline(self, size: int = -1) -> bytes:
        return self._count(self._stream.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._count(line) for line in self._stream.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            yield self._count(line)
