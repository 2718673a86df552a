"""The HTTP face: ``/livez``, ``/readyz``, ``/startupz`` and ``/health`` handlers."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

from ..web import Exchange, Response
from ._check import Kind
from ._format import HEALTH_JSON, health_json, probe_text
from ._registry import HealthRegistry

__all__ = ["HealthEndpoints"]

_NO_STORE = ("cache-control", "no-store")
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

    async def livez(self, exchange: Exchange) -> Response:
        return await self._probe(exchange, "liveness")

    async def readyz(self, exchange: Exchange) -> Response:
        return await self._probe(exchange, "readiness")

    async def startupz(self, exchange: Exchange) -> Response:
        return await self._probe(exchange, "startup")

    async def health(self, exchange: Exchange) -> Response:
        _, exclude = _query(exchange.query_string)
        report = await self.registry.arun(None, exclude)
        document = health_json(report, details=self.details_allowed(exchange), service=self.service)
        return Response.json(
            document, 200 if report.ok else 503, content_type=HEALTH_JSON, headers=[_NO_STORE]
        )

    async def _probe(self, exchange: Exchange, kind: Kind) -> Response:
        query = exchange.query_string
        verbose, exclude = _query(query) if query else (False, ())
        report = await self.registry.arun(kind, exclude)
        if report.ok and not verbose:
            return Response(200, [("content-type", "text/plain; charset=utf-8"), _NO_STORE], b"ok")
        details = self.details_allowed(exchange)
        body = probe_text(report, verbose=verbose, details=details)
        return Response.text(body, 200 if report.ok else 503, headers=[_NO_STORE])


def _query(query: str) -> tuple[bool, tuple[str, ...]]:
    params = parse_qs(query, keep_blank_values=True)
    verbose_values = params.get("verbose")
    verbose = verbose_values is not None and (verbose_values[-1].lower() not in _FALSE)
    exclude = tuple(name for name in params.get("exclude", ()) if name)
    return verbose, exclude
