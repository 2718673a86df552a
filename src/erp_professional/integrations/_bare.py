from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..web import WsgiDriver
from ._base import Integration

if TYPE_CHECKING:
    from ..hub import Professional


class BareIntegration(Integration):
    """A bare ASGI or WSGI callable: the returned ``Professional`` is the wrapped app."""

    serves_itself = True

    def __init__(self, app: Any, kind: str) -> None:
        super().__init__(app)
        self.kind = kind
        self.server_kind = kind

    def install(self, pro: Professional) -> None:
        app: Any = self.app
        if self.kind == "wsgi":
            pro._driver = WsgiDriver(app, pro.pipeline)
        # Under ASGI the returned Professional is the driver itself.
