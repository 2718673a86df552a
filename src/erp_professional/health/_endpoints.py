"""The HTTP face: ``/livez``, ``/readyz``, ``/startupz`` and ``/health`` handlers."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

from ..web import Exchange, Response
from ._format import HEALTH_JSON, health_json, probe_text
from ._registry import HealthRegistry, HealthReport
from ._result import Status

__all__ = ["HealthEndpoints"]

Handler = Callable[[Exchange], Response | Awaitable[Response]]
_NO_STORE = ("cache-control", "no-store")
_OK = (Status.PASS, Status.WARN)
_FALSE = frozenset({"0", "false", "no", "off"})


class HealthEndpoints:
    """Probe handlers over a registry; the status code is the answer (200 or 503).

    With ``token`` set, check names and details are shown only to callers sending it in
    ``header`` or as ``Authorization: Bearer <token>``; everyone else gets the status code
    and a bare ``ok``/``failed`` body.
    """

    def __init__(
        self,
        registry: HealthRegistry,
        *,
        token: str | None = None,
        header: str = "X-Health-Token",
        service: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self._token = token.encode() if token else None
        self.header = header
        self.service = dict(service or {})

    def details_allowed(self, exchange: Exchange) -> bool:
        """Whether this caller may see check names, outputs and values."""
        token = self._token
        if token is None:
            return True
        given = exchange.headers.get(self.header)
        if given is None:
            auth = exchange.headers.get("authorization") or ""
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer":
                return False
            given = value.strip()
        return hmac.compare_digest(given.encode(), token)

    # Async handlers (ASGI; they also work under WSGI, where each call runs an event loop).
    async def livez(self, exchange: Exchange) -> Response:
        if not exchange.query_string and self.registry.cached_status("liveness") in _OK:
            return _ok()
        verbose, exclude = _query(exchange.query_string)
        return self._probe(exchange, await self.registry.arun("liveness", exclude), verbose)

    async def readyz(self, exchange: Exchange) -> Response:
        if not exchange.query_string and self.registry.cached_status("readiness") in _OK:
            return _ok()
        verbose, exclude = _query(exchange.query_string)
        return self._probe(exchange, await self.registry.arun("readiness", exclude), verbose)

    async def startupz(self, exchange: Exchange) -> Response:
        if not exchange.query_string and self.registry.cached_status("startup") in _OK:
            return _ok()
        verbose, exclude = _query(exchange.query_string)
        return self._probe(exchange, await self.registry.arun("startup", exclude), verbose)

    async def health(self, exchange: Exchange) -> Response:
        _, exclude = _query(exchange.query_string)
        return self._document(exchange, await self.registry.arun(None, exclude))

    # Sync twins (WSGI): cached results are answered without starting an event loop.
    def livez_sync(self, exchange: Exchange) -> Response:
        if not exchange.query_string and self.registry.cached_status("liveness") in _OK:
            return _ok()
        verbose, exclude = _query(exchange.query_string)
        return self._probe(exchange, self.registry.run("liveness", exclude), verbose)

    def readyz_sync(self, exchange: Exchange) -> Response:
        if not exchange.query_string and self.registry.cached_status("readiness") in _OK:
            return _ok()
        verbose, exclude = _query(exchange.query_string)
        return self._probe(exchange, self.registry.run("readiness", exclude), verbose)

    def startupz_sync(self, exchange: Exchange) -> Response:
        if not exchange.query_string and self.registry.cached_status("startup") in _OK:
            return _ok()
        verbose, exclude = _query(exchange.query_string)
        return self._probe(exchange, self.registry.run("startup", exclude), verbose)

    def health_sync(self, exchange: Exchange) -> Response:
        _, exclude = _query(exchange.query_string)
        return self._document(exchange, self.registry.run(None, exclude))

    def handlers(self, *, asynchronous: bool = True) -> dict[str, Handler]:
        """The handlers by path (``/livez``...): async ones for ASGI, sync ones for WSGI."""
        if asynchronous:
            return {
                "/livez": self.livez,
                "/readyz": self.readyz,
                "/startupz": self.startupz,
                "/health": self.health,
            }
        return {
            "/livez": self.livez_sync,
            "/readyz": self.readyz_sync,
            "/startupz": self.startupz_sync,
            "/health": self.health_sync,
        }

    def _document(self, exchange: Exchange, report: HealthReport) -> Response:
        document = health_json(report, details=self.details_allowed(exchange), service=self.service)
        return Response.json(
            document, 200 if report.ok else 503, content_type=HEALTH_JSON, headers=[_NO_STORE]
        )

    def _probe(self, exchange: Exchange, report: HealthReport, verbose: bool) -> Response:
        if report.ok and not verbose:
            return _ok()
        details = self.details_allowed(exchange)
        body = probe_text(report, verbose=verbose, details=details)
        return Response.text(body, 200 if report.ok else 503, headers=[_NO_STORE])


def _ok() -> Response:
    return Response(200, [("content-type", "text/plain; charset=utf-8"), _NO_STORE], b"ok")


def _query(query: str) -> tuple[bool, tuple[str, ...]]:
    if not query:
        return False, ()
    params = parse_qs(query, keep_blank_values=True)
    verbose_values = params.get("verbose")
    verbose = verbose_values is not None and (verbose_values[-1].lower() not in _FALSE)
    exclude = tuple(name for name in params.get("exclude", ()) if name)
    return verbose, exclude
