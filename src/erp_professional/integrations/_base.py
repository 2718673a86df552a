from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..hub import Professional


class Integration:
    """The shared contract of framework integrations.

    ``kind`` names the framework for humans; ``server_kind`` is ``asgi`` or ``wsgi``;
    ``serves_itself`` is true when the returned ``Professional`` is the app to serve.
    :meth:`install` puts the driver in place, sets the route resolver and hands the
    framework's error handlers to ``pro`` (installed by ``setup_error_handlers``).
    """

    kind = "app"
    server_kind = "asgi"
    serves_itself = False

    def __init__(self, app: object) -> None:
        self.app = app

    def install(self, pro: Professional) -> None:
        raise TypeError(f"{type(self).__name__} does not install anything")  # pragma: no cover
