"""The pure ASGI driver: runs the pipeline around an ASGI app without buffering bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from ._concern import Endpoint, Pipeline
from ._exchange import Exchange, _current
from ._headers import AsgiResponseHeaders
from ._problem import HTTPProblem, RequestBodyTooLarge, Response, problem_for_exception

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("erp_professional.web")


class LifespanHooks(Protocol):
    """What the driver runs around the app's own lifespan start-up and shutdown."""

    async def astartup(self) -> None: ...

    def begin_shutdown(self) -> None: ...

    async def aclose(self) -> None: ...


class AsgiDriver:
    """Wraps an ASGI app: ``http`` scopes run the pipeline, ``websocket`` scopes pass through
    untouched, and ``lifespan`` messages pass through unchanged while the hooks run after the
    app's start-up and around its shutdown."""

    def __init__(
        self, app: ASGIApp, pipeline: Pipeline, lifespan: LifespanHooks | None = None
    ) -> None:
        self.app = app
        self.pipeline = pipeline
        self.lifespan = lifespan
        self._chain: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan" and self.lifespan is not None:
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        pipeline = self.pipeline
        ex = Exchange.from_asgi(scope, pipeline)
        token = _current.set(ex)
        try:
            response: Response | None = None
            for concern, is_async in pipeline.request_hooks:
                if is_async:
                    response = await concern.on_request_async(ex)
                else:
                    response = concern.on_request(ex)
                if response is not None:
                    break
            if response is None and ex.path.startswith(pipeline.prefix):
                match = pipeline.match_endpoint(ex)
                if isinstance(match, Endpoint):
                    ex.route = pipeline.prefix + match.path
                    response = await match.call_async(ex)
                else:
                    response = match
            if response is not None:
                await send_response(pipeline, ex, response, send)
                return
            # The app's turn (inlined here: this is the hot path of every request).
            response_hooks = pipeline.response_hooks

            async def send_wrapper(message: Message) -> None:
                kind = message["type"]
                if kind == "http.response.start":
                    ex.response_started = True
                    ex.status = message["status"]
                    if response_hooks:
                        headers = AsgiResponseHeaders(list(message.get("headers", ())))
                        for concern in response_hooks:
                            concern.on_response(ex, headers)
                        message["headers"] = headers.raw
                elif kind == "http.response.body":
                    ex.bytes_sent += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        ex.response_complete = True
                await send(message)

            if ex.body_limit is not None:
                receive = _limited_receive(receive, ex.body_limit)
            app = self.app
            if ex.wants_middleware and pipeline.asgi_middleware:
                app = self._chain or self._build_chain()
            try:
                await app(scope, receive, send_wrapper)
            except Exception as exc:
                if not isinstance(exc, HTTPProblem):
                    pipeline.report_error(ex, exc)
                if not ex.response_started:
                    response = problem_for_exception(exc, ex.request_id, pipeline.show_tracebacks)
                    await send_response(pipeline, ex, response, send)
                # Started: the response is cut short and the server closes the connection,
                # so the client never mistakes a truncated body for a complete one.
        finally:
            if pipeline.complete_hooks:
                pipeline.complete(ex)
            _current.reset(token)

    def _build_chain(self) -> ASGIApp:
        chain = self.app
        for middleware in reversed(self.pipeline.asgi_middleware):
            chain = middleware(chain)
        self._chain = chain
        return chain

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        hooks = self.lifespan
        assert hooks is not None
        talked = False

        async def receive_wrapper() -> Message:
            nonlocal talked
            talked = True
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                hooks.begin_shutdown()
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal talked
            talked = True
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                try:
                    await hooks.astartup()
                except Exception as exc:
                    log.exception("erp_professional start-up failed")
                    message = {"type": "lifespan.startup.failed", "message": repr(exc)}
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await hooks.aclose()
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception:
            if talked:
                raise
        if not talked:
            # The app does not speak the lifespan protocol (it raised or returned at once):
            # speak it for the toolkit.
            await _own_lifespan(hooks, receive, send)


async def _own_lifespan(hooks: LifespanHooks, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await hooks.astartup()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            hooks.begin_shutdown()
            await hooks.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def send_response(pipeline: Pipeline, ex: Exchange, response: Response, send: Send) -> None:
    """Send a toolkit-made response (rejection, endpoint, error) through the response hooks."""
    headers = AsgiResponseHeaders(
        [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    )
    headers.set("content-length", str(len(response.body)))
    ex.status = response.status
    ex.response_started = True
    pipeline.respond_headers(ex, headers)
    await send({"type": "http.response.start", "status": response.status, "headers": headers.raw})
    body = b"" if ex.method == "HEAD" else response.body
    ex.bytes_sent += len(body)
    await send({"type": "http.response.body", "body": body})
    ex.response_complete = True


def _limited_receive(receive: Receive, limit: int) -> Receive:
    """Count request body bytes as they stream in; past ``limit`` raise a 413 problem."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise RequestBodyTooLarge(f"The request body is larger than {limit} bytes.")
        return message

    return limited
