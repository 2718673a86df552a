"""CORS: an explicit origin allowlist, never ``*`` with credentials, ``Vary: Origin``,
preflight answers cached by browsers for ``max_age`` seconds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from ..web import Concern, Exchange, Response, ResponseHeaders, problem
from ._util import add_vary, count

__all__ = ["CorsConcern"]

_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
_PREFLIGHT_VARY = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")


class CorsConcern(Concern):
    """Answers preflights and adds CORS headers for allowlisted origins only."""

    name: ClassVar[str] = "security.cors"
    order: ClassVar[int] = 30

    def __init__(
        self,
        allow_origins: Iterable[str],
        *,
        allow_credentials: bool = False,
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"),
        allow_headers: Iterable[str] = (),
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
    ) -> None:
        origins = [o.lower().rstrip("/") for o in allow_origins]
        self.any_origin = "*" in origins
        if self.any_origin and allow_credentials:
            raise ValueError("CORS credentials cannot be combined with the '*' origin")
        self.origins = frozenset(o for o in origins if o != "*")
        self.credentials = allow_credentials
        self.methods = tuple(m.upper() for m in allow_methods)
        self._methods_set = frozenset(self.methods)
        headers = [h.lower() for h in allow_headers]
        self.any_header = "*" in headers
        self.headers = frozenset(h for h in headers if h != "*")
        self.expose = ", ".join(expose_headers)
        self.max_age = max_age

    def _allowed(self, origin: str) -> bool:
        return self.any_origin or origin.lower() in self.origins

    def _allow_origin_value(self, origin: str) -> str:
        return "*" if self.any_origin and not self.credentials else origin

    def on_request(self, exchange: Exchange) -> Response | None:
        if exchange.method != "OPTIONS":
            return None
        response = self._preflight(exchange)
        if response is not None and response.status == 403:
            count("cors.rejected")
        return response

    def _preflight(self, exchange: Exchange) -> Response | None:
        headers = exchange.headers
        origin = headers.get("origin")
        requested = headers.get("access-control-request-method")
        if origin is None or requested is None:
            return None  # a plain OPTIONS request: the app answers it
        vary = [("Vary", ", ".join(_PREFLIGHT_VARY))]
        if not self._allowed(origin):
            return problem(403, "This origin may not call this API.", headers=vary)
        if requested.upper() not in self._methods_set:
            return problem(
                403, f"Method {requested!r} is not allowed from this origin.", headers=vary
            )
        wanted = [
            h.strip().lower()
            for h in (headers.get("access-control-request-headers") or "").split(",")
            if h.strip()
        ]
        refused = [h for h in wanted if h not in self.headers and h not in _SAFELISTED]
        if refused and not (self.any_header and not self.credentials):
            return problem(
                403, f"Header {refused[0]!r} is not allowed from this origin.", headers=vary
            )
        out = [
            ("Access-Control-Allow-Origin", self._allow_origin_value(origin)),
            ("Access-Control-Allow-Methods", ", ".join(self.methods)),
            ("Access-Control-Max-Age", str(self.max_age)),
            *vary,
        ]
        if wanted:
            out.append(("Access-Control-Allow-Headers", ", ".join(wanted)))
        if self.credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        return Response(204, out, b"")

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        if "access-control-allow-origin" in headers:
            return  # a preflight answer, already complete
        origin = exchange.headers.get("origin")
        if not (self.any_origin and not self.credentials):
            add_vary(headers, ("Origin",))
        if origin is None or not self._allowed(origin):
            return
        headers.set("Access-Control-Allow-Origin", self._allow_origin_value(origin))
        if self.credentials:
            headers.set("Access-Control-Allow-Credentials", "true")
        if self.expose:
            headers.set("Access-Control-Expose-Headers", self.expose)
