"""FastAPI and Starlette: the ASGI driver as the outermost user middleware, lifespan hooked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..connections import MissingDependencyError
from ..web import AsgiDriver, Exchange
from ._base import Integration

if TYPE_CHECKING:
    from ..hub import Professional

try:
    from starlette.routing import Match
except ImportError:  # pragma: no cover - detection only picks this module for starlette apps
    raise MissingDependencyError("starlette", "starlette", "the Starlette integration") from None


class ProfessionalMiddleware(AsgiDriver):
    """Starlette middleware form of the ASGI driver (``app.add_middleware`` calls it)."""

    def __init__(self, app: Any, pro: Professional) -> None:
        super().__init__(app, pro.pipeline, lifespan=pro)


def _resolve(routes: Any, scope: dict[str, Any]) -> str | None:
    partial: str | None = None
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:  # noqa: S112 - a custom route that cannot judge this scope
            continue
        if match == Match.NONE:
            continue
        path: str | None = getattr(route, "path", None)
        if path is None:
            continue
        sub_routes = getattr(route, "routes", None)
        if sub_routes:
            inner = _resolve(sub_routes, {**scope, **child})
            path = path + inner if inner is not None else path
        if match == Match.FULL:
            return path
        partial = partial or path
    return partial


class StarletteIntegration(Integration):
    kind = "starlette"
    server_kind = "asgi"

    def install(self, pro: Professional) -> None:
        app: Any = self.app
        app.add_middleware(ProfessionalMiddleware, pro=pro)

        def resolver(exchange: Exchange) -> str | None:
            if exchange.kind != "asgi":
                return None
            return _resolve(app.router.routes, dict(exchange.raw))

        pro.pipeline.route_resolver = resolver
