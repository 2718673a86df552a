"""Switch feature flags on for a :class:`~erp_professional.hub.Professional`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..health import HealthRegistry
from ._flags import FeatureFlags

if TYPE_CHECKING:
    from ..hub import Professional

__all__ = ["install"]


def install(pro: Professional) -> None:
    """Register the ``flags`` component (``pro.flags``), its health check and its shutdown.

    The flag store's listener starts lazily in each process (first evaluation), so forking
    servers stay safe; a store that is not ready yet serves defaults and reports ``warn``.
    """
    flags = FeatureFlags.from_config(pro.config.flags)
    pro.register("flags", flags)
    health = pro.components.get("health")
    if isinstance(health, HealthRegistry):
        health.register("flags", flags.health_check, critical=False)
    pro.on_shutdown(flags.close)
