"""Django: ``integrate(get_wsgi_application())`` or ``integrate(get_asgi_application())``.

The driver wraps the handler, and :class:`ProfessionalMiddleware` (added to the front of
``settings.MIDDLEWARE`` if it is not listed) gives views ``request.request_id``, reports the
route template and answers unhandled exceptions with problem+json.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..connections import MissingDependencyError
from ..web import (
    HTTPProblem,
    WsgiDriver,
    current_exchange,
    new_request_id,
    problem_for_exception,
)
from ._base import Integration

if TYPE_CHECKING:
    from ..hub import Professional
    from ..web import Exchange

try:
    from asgiref.sync import markcoroutinefunction
    from django.conf import settings
    from django.core.exceptions import PermissionDenied, SuspiciousOperation
    from django.http import Http404, HttpResponse
except ImportError:  # pragma: no cover - detection only picks this module for django apps
    raise MissingDependencyError("django", "django", "the Django integration") from None

MIDDLEWARE_PATH = "erp_professional.integrations.django.ProfessionalMiddleware"
_HANDLED_BY_DJANGO = (Http404, PermissionDenied, SuspiciousOperation)


class ProfessionalMiddleware:
    """Django middleware (sync and async capable) bridging a request to its exchange."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = asyncio.iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        self._prepare(request)
        return self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        self._prepare(request)
        return await self.get_response(request)

    @staticmethod
    def _prepare(request: Any) -> None:
        exchange = current_exchange()
        request.request_id = exchange.request_id if exchange is not None else new_request_id()

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        exchange = current_exchange()
        match = getattr(request, "resolver_match", None)
        if exchange is not None and match is not None and match.route:
            exchange.route = "/" + str(match.route).lstrip("^").lstrip("/")
        return None

    def process_exception(self, request: Any, exception: Exception) -> Any:
        if isinstance(exception, _HANDLED_BY_DJANGO):
            return None
        exchange = current_exchange()
        if exchange is None:
            return None
        if not isinstance(exception, HTTPProblem):
            exchange.report_error(exception)
        response = problem_for_exception(
            exception, exchange.request_id, exchange.pipeline.show_tracebacks
        )
        result = HttpResponse(response.body, status=response.status)
        for name, value in response.headers:
            result[name] = value
        return result


class DjangoIntegration(Integration):
    kind = "django"
    serves_itself = True

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        from django.core.handlers.asgi import ASGIHandler
        from django.core.handlers.wsgi import WSGIHandler

        if isinstance(app, ASGIHandler):
            self.server_kind = "asgi"
        elif isinstance(app, WSGIHandler):
            self.server_kind = "wsgi"
        else:
            raise TypeError(
                "integrate() takes Django's handler: get_wsgi_application() or "
                f"get_asgi_application(), not {type(app).__qualname__}"
            )

    def install(self, pro: Professional) -> None:
        app: Any = self.app
        middleware = list(settings.MIDDLEWARE)
        if MIDDLEWARE_PATH not in middleware:
            settings.MIDDLEWARE = [MIDDLEWARE_PATH, *middleware]
        # The handler built its chain when it was created: build it again with ours in it.
        app.load_middleware(is_async=self.server_kind == "asgi")

        def resolver(exchange: Exchange) -> str | None:
            from django.urls import Resolver404, resolve

            try:
                match = resolve(exchange.path)
            except Resolver404:
                return None
            return "/" + str(match.route).lstrip("^").lstrip("/") if match.route else None

        pro.pipeline.route_resolver = resolver
        if self.server_kind == "wsgi":
            pro._driver = WsgiDriver(app, pro.pipeline)
        # Under ASGI the returned Professional is the driver itself.
