"""Concerns (written once, driven by both drivers), endpoints and the ordered pipeline."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from ._exchange import Exchange, RouteResolver
from ._headers import ResponseHeaders
from ._problem import Response, problem
from ._proxy import TrustedProxies

log = logging.getLogger("erp_professional.web")

ErrorReporter = Callable[[Exchange, BaseException], None]


class Concern:
    """One HTTP concern of the request lifecycle, framework-neutral.

    Override any of the hooks; the drivers call only the hooks a concern overrides.

    * :meth:`on_request` (or :meth:`on_request_async` for I/O under ASGI) runs before the
      app in ``order``; returning a :class:`Response` rejects the request.
    * :meth:`on_response` may change the response headers as the response starts.
    * :meth:`on_complete` observes the finished exchange (status, duration, error).

    Response and completion hooks run, in reverse order, for every response: the app's,
    a rejection by any concern, an endpoint's, or the error boundary's. Per-request data
    lives in ``exchange.state``, never on ``self``.
    """

    name: ClassVar[str] = "concern"
    order: ClassVar[int] = 500

    def on_request(self, exchange: Exchange) -> Response | None:
        return None

    async def on_request_async(self, exchange: Exchange) -> Response | None:
        return self.on_request(exchange)

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        return None

    def on_complete(self, exchange: Exchange) -> None:
        return None

    def overrides(self, hook: str) -> bool:
        return getattr(type(self), hook) is not getattr(Concern, hook)


EndpointHandler = Callable[[Exchange], Response | Awaitable[Response]]


class Endpoint:
    """A toolkit endpoint mounted under the prefix (``/_pro/livez``)."""

    __slots__ = ("handler", "is_async", "methods", "path")

    def __init__(
        self, path: str, handler: EndpointHandler, methods: Iterable[str] = ("GET", "HEAD")
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"endpoint path must start with '/': {path!r}")
        self.path = path
        self.handler = handler
        self.methods = frozenset(m.upper() for m in methods)
        self.is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004
        )

    def call(self, exchange: Exchange) -> Response:
        """Run the handler to completion from synchronous code (WSGI)."""
        if self.is_async:
            return asyncio.run(self.handler(exchange))  # type: ignore[arg-type]
        return self.handler(exchange)  # type: ignore[return-value]

    async def call_async(self, exchange: Exchange) -> Response:
        """Run the handler from asynchronous code (ASGI)."""
        result = self.handler(exchange)
        if self.is_async:
            return await result  # type: ignore[no-any-return,misc]
        return result  # type: ignore[return-value]


class Pipeline:
    """The ordered concerns, endpoints and error reporters shared by both drivers."""

    def __init__(
        self,
        concerns: Iterable[Concern] = (),
        *,
        prefix: str = "/_pro",
        trusted_proxies: Iterable[str] = (),
        show_tracebacks: bool = False,
        route_resolver: RouteResolver | None = None,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.trusted = TrustedProxies(trusted_proxies)
        self.show_tracebacks = show_tracebacks
        self.route_resolver = route_resolver
        self.endpoints: dict[str, Endpoint] = {}
        self.error_reporters: list[ErrorReporter] = [_log_error]
        # ASGI middleware factories the ASGI driver puts between itself and the app (first =
        # outermost) for the requests whose exchange ``wants_middleware`` (a concern that
        # must read the body before the app does); the chain is built when first needed.
        self.asgi_middleware: list[Callable[[Any], Any]] = []
        self.concerns: list[Concern] = []
        self.request_hooks: list[tuple[Concern, bool]] = []
        self.wsgi_request_hooks: list[tuple[Concern, bool]] = []
        self.response_hooks: list[Concern] = []
        self.complete_hooks: list[Concern] = []
        for concern in concerns:
            self.add(concern)

    def add(self, concern: Concern) -> None:
        """Add a concern; the pipeline stays sorted by ``order`` (stable for equal orders)."""
        if any(type(c) is type(concern) and c.name == concern.name for c in self.concerns):
            raise ValueError(f"concern {concern.name!r} is already in the pipeline")
        self.concerns.append(concern)
        self.concerns.sort(key=lambda c: c.order)
        requesting = [
            c for c in self.concerns if c.overrides("on_request") or c.overrides("on_request_async")
        ]
        # ASGI awaits on_request_async where a concern overrides it; WSGI calls on_request
        # and runs on_request_async only for concerns that have nothing else.
        self.request_hooks = [(c, c.overrides("on_request_async")) for c in requesting]
        self.wsgi_request_hooks = [(c, not c.overrides("on_request")) for c in requesting]
        self.response_hooks = [c for c in reversed(self.concerns) if c.overrides("on_response")]
        self.complete_hooks = [c for c in reversed(self.concerns) if c.overrides("on_complete")]

    def get(self, name: str) -> Concern | None:
        return next((c for c in self.concerns if c.name == name), None)

    def add_endpoint(
        self, path: str, handler: EndpointHandler, methods: Iterable[str] = ("GET", "HEAD")
    ) -> Endpoint:
        """Mount ``handler`` at ``prefix + path``."""
        if path in self.endpoints:
            raise ValueError(f"an endpoint is already mounted at {self.prefix}{path}")
        endpoint = Endpoint(path, handler, methods)
        self.endpoints[path] = endpoint
        return endpoint

    def match_endpoint(self, exchange: Exchange) -> Endpoint | Response | None:
        """The endpoint for this request, a 404/405 problem inside the prefix, or ``None``."""
        path, prefix = exchange.path, self.prefix
        if not path.startswith(prefix):
            return None
        sub = path[len(prefix) :]
        if sub and sub[0] != "/":
            return None
        endpoint = self.endpoints.get(sub or "/")
        if endpoint is None:
            return problem(404, f"No toolkit endpoint at {path}.", request_id=exchange.request_id)
        if exchange.method not in endpoint.methods:
            allow = ", ".join(sorted(endpoint.methods))
            return problem(
                405,
                f"{exchange.method} is not allowed here.",
                headers=[("allow", allow)],
                request_id=exchange.request_id,
            )
        return endpoint

    def report_error(self, exchange: Exchange, exc: BaseException) -> None:
        """Hand an unhandled exception to every reporter, once per exchange."""
        if exchange.error_reported:
            return
        exchange.error_reported = True
        exchange.error = exc
        for reporter in self.error_reporters:
            try:
                reporter(exchange, exc)
            except Exception:
                log.exception("error reporter %r failed", reporter)

    def complete(self, exchange: Exchange) -> None:
        for concern in self.complete_hooks:
            try:
                concern.on_complete(exchange)
            except Exception:
                log.exception("concern %r failed on completion", concern.name)

    def respond_headers(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        for concern in self.response_hooks:
            concern.on_response(exchange, headers)


def _log_error(exchange: Exchange, exc: BaseException) -> None:
    log.error(
        "unhandled %s in %s %s (request id %s)",
        type(exc).__qualname__,
        exchange.method,
        exchange.path,
        exchange.request_id,
        exc_info=exc,
        extra={"request_id": exchange.request_id},
    )
