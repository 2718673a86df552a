"""Framework integrations: each installs a driver, mounts endpoints and reads the route.

Detection never imports a framework the app does not use; asking for an integration whose
framework is missing raises an error naming the extra to install.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._base import Integration

__all__ = ["Integration", "detect"]

SUPPORTED = (
    "a FastAPI or Starlette app, a Flask app, Django's get_wsgi_application() or "
    "get_asgi_application() handler, or a bare ASGI (scope, receive, send) or WSGI "
    "(environ, start_response) callable"
)


def _modules(app: object) -> set[str]:
    return {cls.__module__.split(".", 1)[0] for cls in type(app).__mro__}


def detect(app: object) -> Integration:
    """The integration for ``app``; :class:`TypeError` names the supported kinds otherwise."""
    modules = _modules(app)
    if "starlette" in modules or "fastapi" in modules:
        from .starlette import StarletteIntegration

        return StarletteIntegration(app)
    if "flask" in modules:
        from .flask import FlaskIntegration

        return FlaskIntegration(app)
    if "django" in modules:
        from .django import DjangoIntegration

        return DjangoIntegration(app)
    kind = _bare_kind(app)
    if kind is not None:
        from ._bare import BareIntegration

        return BareIntegration(app, kind)
    raise TypeError(f"integrate() cannot wrap {type(app).__qualname__!s}: expected {SUPPORTED}")


def _bare_kind(app: Any) -> str | None:
    if not callable(app) or isinstance(app, type):
        return None
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else type(app).__call__
    if inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(app):
        return "asgi"
    try:
        parameters = [
            p
            for p in inspect.signature(app).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return None
    if len(parameters) == 3:
        return "asgi"
    if len(parameters) == 2:
        return "wsgi"
    return None
