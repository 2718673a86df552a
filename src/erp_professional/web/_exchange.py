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
    ``error``) are filled in as the response goes out.
    """

    __slots__ = (
        "_client",
        "_default_scheme",
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
        "peer",
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
    )

    def __init__(
        self,
        kind: Literal["asgi", "wsgi"],
        raw: MutableMapping[str, Any],
        method: str,
        path: str,
        root_path: str,
        query_string: str | bytes,
        headers: RequestHeaders,
        peer: str | None,
        scheme: str,
        pipeline: Pipeline,
    ) -> None:
        self.kind = kind
        self.raw = raw
        self.method = method
        self.path = path
        self.root_path = root_path
        self._query = query_string
        self.headers = headers
        self.peer = peer
        self._default_scheme = scheme
        self.pipeline = pipeline
        self.request_id: str = ""
        self.principal: object | None = None
        self.state: dict[str, Any] = {}
        self.status: int | None = None
        self.response_started = False
        self.response_complete = False
        self.bytes_sent = 0
        self.error: BaseException | None = None
        self.error_reported = False
        self.body_limit: int | None = None
        self.start = time.perf_counter()

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
        client = scope.get("client")
        return cls(
            "asgi",
            scope,
            scope["method"],
            path,
            root_path,
            scope.get("query_string", b""),
            AsgiRequestHeaders(scope.get("headers", ())),
            client[0] if client else None,
            scope.get("scheme", "http"),
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
            environ.get("QUERY_STRING", ""),
            WsgiRequestHeaders(environ),
            environ.get("REMOTE_ADDR") or None,
            environ.get("wsgi.url_scheme", "http"),
            pipeline,
        )

    @property
    def query_string(self) -> str:
        """The raw query string (``a=1&b=2``), decoded as latin-1 when asked for."""
        query = self._query
        if isinstance(query, bytes):
            query = self._query = query.decode("latin-1")
        return query

    # ``_client``, ``_scheme`` and ``_route`` stay unset until first asked for: most requests
    # never need them, and every store in the constructor is paid on every request.
    @property
    def client(self) -> str | None:
        """Client address: the peer, or the forwarded client when the peer is trusted."""
        try:
            return self._client
        except AttributeError:
            self._client: str | None = self.pipeline.trusted.client(self.peer, self.headers)
            return self._client

    @property
    def scheme(self) -> str:
        """``http`` or ``https``, honouring forwarded protocol headers from trusted proxies."""
        try:
            return self._scheme
        except AttributeError:
            trusted = self.pipeline.trusted
            self._scheme: str = trusted.scheme(self.peer, self.headers, self._default_scheme)
            return self._scheme

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def route(self) -> str | None:
        """The route template (``/invoices/{id}``) once known, else ``None`` (never raw paths)."""
        try:
            return self._route
        except AttributeError:
            resolver = self.pipeline.route_resolver
            self._route: str | None = resolver(self) if resolver is not None else None
            return self._route

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
