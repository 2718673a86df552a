"""The exchange: a framework-neutral view of one request and, later, its response."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from ._headers import AsgiRequestHeaders, RequestHeaders, WsgiRequestHeaders

if TYPE_CHECKING:
    from ._concern import Pipeline

_current: ContextVar[Exchange | None] = ContextVar("erp_professional_exchange", default=None)

RouteResolver = Callable[["Exchange"], "str | None"]
_UNSET: Any = object()  # a lazily computed field not computed yet


def current_exchange() -> Exchange | None:
    """The exchange of the request being handled in this context, if any."""
    return _current.get()


def current_request_id() -> str | None:
    """The request id of the request being handled in this context (``None`` outside one)."""
    ex = _current.get()
    return None if ex is None else ex.request_id


class Exchange:
    """One request and its response as every concern sees it, under ASGI or WSGI.

    ``raw`` is the ASGI scope or the WSGI environ. ``state`` holds per-request values of
    concerns (span, principal, ...). Response fields (``status``, ``bytes_sent``,
    ``error``) are filled in as the response goes out. A concern sets ``wants_middleware``
    when this request must pass through the pipeline's ASGI middleware (to read the body
    before the app does); other requests go straight to the app.
    """

    __slots__ = (
        "_client",
        "_peer",
        "_query",
        "_route",
        "_scheme",
        "body_limit",
        "bytes_sent",
        "error",
        "error_reported",
        "headers",
        "kind",
        "method",
        "path",
        "pipeline",
        "principal",
        "raw",
        "request_id",
        "response_complete",
        "response_started",
        "root_path",
        "start",
        "state",
        "status",
        "wants_middleware",
    )

    def __init__(
        self,
        kind: Literal["asgi", "wsgi"],
        raw: MutableMapping[str, Any],
        method: str,
        path: str,
        root_path: str,
        headers: RequestHeaders,
        pipeline: Pipeline,
    ) -> None:
        self.kind = kind
        self.raw = raw
        self.method = method
        self.path = path
        self.root_path = root_path
        self.headers = headers
        self.pipeline = pipeline
        self.request_id: str = ""
        self.principal: object | None = None
        self.status: int | None = None
        self.response_started = False
        self.response_complete = False
        self.bytes_sent = 0
        self.error: BaseException | None = None
        self.error_reported = False
        self.body_limit: int | None = None
        self.wants_middleware = False
        self.start = time.perf_counter()
        # Per-request values of concerns (span, nonce, ...): a plain attribute, as most
        # stacks read it several times per request.
        self.state: dict[str, Any] = {}
        # Computed on first use (most requests never need them); a sentinel check is far
        # cheaper than catching the AttributeError of an unset slot.
        self._query: str = _UNSET
        self._peer: str | None = _UNSET
        self._client: str | None = _UNSET
        self._scheme: str = _UNSET
        self._route: str | None = _UNSET

    @classmethod
    def from_asgi(
        cls,
        scope: MutableMapping[str, Any],
        pipeline: Pipeline,
    ) -> Exchange:
        root_path = scope.get("root_path", "")
        path = scope["path"]
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :] or "/"
        return cls(
            "asgi",
            scope,
            scope["method"],
            path,
            root_path,
            AsgiRequestHeaders(scope.get("headers", ())),
            pipeline,
        )

    @classmethod
    def from_wsgi(
        cls,
        environ: MutableMapping[str, Any],
        pipeline: Pipeline,
    ) -> Exchange:
        path = environ.get("PATH_INFO", "") or "/"
        with contextlib.suppress(UnicodeError):
            path = path.encode("latin-1").decode("utf-8")
        return cls(
            "wsgi",
            environ,
            environ.get("REQUEST_METHOD", "GET"),
            path,
            environ.get("SCRIPT_NAME", ""),
            WsgiRequestHeaders(environ),
            pipeline,
        )

    # Fields read from ``raw`` only when asked for: most requests never need them.
    @property
    def query_string(self) -> str:
        """The raw query string (``a=1&b=2``)."""
        query = self._query
        if query is _UNSET:
            raw = self.raw
            if self.kind == "asgi":
                query = raw.get("query_string", b"").decode("latin-1")
            else:
                query = raw.get("QUERY_STRING", "")
            self._query = query
        return query

    @property
    def peer(self) -> str | None:
        """The socket peer's address (the client, or the last proxy)."""
        peer = self._peer
        if peer is _UNSET:
            if self.kind == "asgi":
                client = self.raw.get("client")
                peer = client[0] if client else None
            else:
                peer = self.raw.get("REMOTE_ADDR") or None
            self._peer = peer
        return peer

    @property
    def client(self) -> str | None:
        """Client address: the peer, or the forwarded client when the peer is trusted."""
        client = self._client
        if client is _UNSET:
            trusted = self.pipeline.trusted
            client = trusted.client(self.peer, self.headers) if trusted.active else self.peer
            self._client = client
        return client

    @property
    def scheme(self) -> str:
        """``http`` or ``https``, honouring forwarded protocol headers from trusted proxies."""
        scheme = self._scheme
        if scheme is _UNSET:
            raw = self.raw
            key = "scheme" if self.kind == "asgi" else "wsgi.url_scheme"
            scheme = raw.get(key, "http")
            trusted = self.pipeline.trusted
            if trusted.active:
                scheme = trusted.scheme(self.peer, self.headers, scheme)
            self._scheme = scheme
        return scheme

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def route(self) -> str | None:
        """The route template (``/invoices/{id}``) once known, else ``None`` (never raw paths)."""
        route = self._route
        if route is _UNSET:
            resolver = self.pipeline.route_resolver
            route = resolver(self) if resolver is not None else None
            if route is not None or self.response_started:
                # Before the app has run some routers cannot tell yet: ask again later.
                self._route = route
        return route

    @route.setter
    def route(self, value: str | None) -> None:
        self._route = value

    def report_error(self, exc: BaseException) -> None:
        """Hand an unhandled exception to the error reporters (once per request)."""
        self.pipeline.report_error(self, exc)

    @property
    def duration(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self.start

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.path} id={self.request_id} status={self.status}>"
