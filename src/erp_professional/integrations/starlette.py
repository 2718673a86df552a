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
    """Match ``scope`` against ``routes`` again (the slow path: every route is tried)."""
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


_AMBIGUOUS = object()


class _RouteIndex:
    """Which template served a request, read from what the router left in the scope.

    Starlette's router records the matched ``endpoint`` in the scope (FastAPI also the
    ``route``), and every ``Mount`` it went through extends ``root_path``. After the app
    has run, the template is therefore the mounts' prefix plus the route's own path,
    found without matching every route a second time. Endpoints served under several
    templates, mounts with path parameters and anything unrecognised take the slow path.
    """

    def __init__(self, router: Any) -> None:
        self.router = router
        self.size = -1
        self.paths: dict[Any, Any] = {}
        self.mounts: set[str] = set()

    def _rebuild(self, routes: Any) -> None:
        paths: dict[Any, Any] = {}
        mounts: set[str] = set()

        def walk(routes: Any, prefix: str) -> None:
            for route in routes:
                path = getattr(route, "path", None)
                if not isinstance(path, str):
                    continue
                sub_routes = getattr(route, "routes", None)
                if sub_routes is not None:
                    if "{" not in path:
                        mounts.add(prefix + path)
                        walk(sub_routes, prefix + path)
                    continue
                endpoint = getattr(route, "endpoint", None)
                if endpoint is None:
                    continue
                try:
                    known = paths.get(endpoint)
                except TypeError:  # an unhashable endpoint: never looked up
                    continue
                paths[endpoint] = path if known in (None, path) else _AMBIGUOUS

        walk(routes, "")
        self.paths, self.mounts = paths, mounts
        self.size = len(routes)

    def template(self, exchange: Exchange) -> str | None:
        raw = exchange.raw
        routes = self.router.routes
        if len(routes) != self.size:
            self._rebuild(routes)
        prefix = ""
        root_path = raw.get("root_path", "")
        if root_path != exchange.root_path:
            base = exchange.root_path
            prefix = root_path[len(base) :] if root_path.startswith(base) else "{"
            if prefix not in self.mounts:
                return self._slow(exchange)
        route = raw.get("route")  # FastAPI records the route itself
        path = getattr(route, "path", None) if route is not None else None
        if not isinstance(path, str):
            endpoint = raw.get("endpoint")
            try:
                path = self.paths.get(endpoint) if endpoint is not None else None
            except TypeError:
                path = None
        if isinstance(path, str):
            return prefix + path
        return self._slow(exchange)

    def _slow(self, exchange: Exchange) -> str | None:
        # Mounts rewrote root_path while routing: match from the request's own.
        scope = dict(exchange.raw)
        scope["root_path"] = exchange.root_path
        return _resolve(self.router.routes, scope)


class StarletteIntegration(Integration):
    kind = "starlette"
    server_kind = "asgi"

    def install(self, pro: Professional) -> None:
        app: Any = self.app
        app.add_middleware(ProfessionalMiddleware, pro=pro)

        index = _RouteIndex(app.router)

        def resolver(exchange: Exchange) -> str | None:
            if exchange.kind != "asgi":
                return None
            return index.template(exchange)

        pro.pipeline.route_resolver = resolver
