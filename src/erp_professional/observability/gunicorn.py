"""gunicorn's own log lines (master and workers) in the erp_professional format.

    gunicorn --logger-class erp_professional.observability.gunicorn.Logger main:app

The logging settings come from the environment or ``ERP_PRO_CONFIG_FILE`` (the
``observability.logging`` section), as they would for ``integrate()``.
"""

from __future__ import annotations

from typing import Any

try:
    from gunicorn import glogging  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - only imported by gunicorn itself
    raise ImportError(
        "erp_professional.observability.gunicorn is a logger class for gunicorn: "
        "pip install gunicorn"
    ) from None

__all__ = ["Logger"]


class Logger(glogging.Logger):  # type: ignore[misc,unused-ignore]
    """gunicorn's logger whose ``gunicorn.error``/``gunicorn.access`` records go through
    the erp_professional sink instead of gunicorn's own handlers."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from ..config import load_config
        from ._logging import setup_logging

        settings = load_config().observability.logging
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True
        setup_logging(settings)
