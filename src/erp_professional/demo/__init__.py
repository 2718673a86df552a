"""The demo ERP service: a small invoice API on FastAPI with ``integrate()``.

Run it with ``erp-pro demo`` (or ``nox -s demo``); it needs nothing but the ``demo`` extra.
"""

from ._app import create_app

__all__ = ["create_app"]
