"""Flask: the WSGI driver around ``app.wsgi_app``, problem+json error handler, route rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..connections import MissingDependencyError
from ..web import HTTPProblem, WsgiDriver, current_exchange, problem_for_exception
from ._base import Integration

if TYPE_CHECKING:
    from ..hub import Professional
    from ..web import Exchange

try:
    import flask
    from werkzeug.exceptions import HTTPException
except ImportError:  # pragma: no cover - detection only picks this module for flask apps
    raise MissingDependencyError("flask", "flask", "the Flask integration") from None


class FlaskIntegration(Integration):
    kind = "flask"
    server_kind = "wsgi"

    def install(self, pro: Professional) -> None:
        app: Any = self.app
        app.wsgi_app = WsgiDriver(app.wsgi_app, pro.pipeline)
        url_map = app.url_map

        def resolver(exchange: Exchange) -> str | None:
            try:
                rule, _ = url_map.bind_to_environ(exchange.raw).match(return_rule=True)
            except Exception:  # 404, 405 or a redirect: no template
                return None
            return str(rule.rule)

        pro.pipeline.route_resolver = resolver

        def _erp_professional_request() -> None:
            exchange = current_exchange()
            if exchange is None:
                return
            rule = flask.request.url_rule
            exchange.route = rule.rule if rule is not None else None
            flask.g.request_id = exchange.request_id

        app.before_request(_erp_professional_request)

        def install_error_handlers() -> None:
            def handler(error: Exception) -> Any:
                if isinstance(error, HTTPException):
                    return error
                exchange = current_exchange()
                if exchange is None:
                    raise error
                if not isinstance(error, HTTPProblem):
                    exchange.report_error(error)
                response = problem_for_exception(
                    error, exchange.request_id, pro.pipeline.show_tracebacks
                )
                return flask.Response(
                    response.body, status=response.status, headers=response.headers
                )

            app.register_error_handler(Exception, handler)

        pro._error_handlers = install_error_handlers
