"""Switches each configured capability on for a :class:`~erp_professional.hub.Professional`.

Each capability is imported only when its section is enabled, so an app pays only for
what it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import Professional


def install_all(pro: Professional) -> None:
    """Install every enabled capability's concerns, endpoints, components and hooks."""
    if pro.config.observability.enabled:
        from .observability._install import install as _install_observability

        _install_observability(pro)
    if pro.config.resilience.enabled:
        from .resilience import configure as _configure_resilience

        _configure_resilience(pro.config.resilience)
    if pro.config.security.enabled:
        from .security._install import install as _install_security

        _install_security(pro)
    if pro.config.health.enabled:
        from .health._install import install as _install_health

        _install_health(pro)
    if pro.config.flags.enabled:
        from .flags._install import install as _install_flags

        _install_flags(pro)
    if pro.config.events.enabled:
        from .events._install import install as _install_events

        _install_events(pro)
    if pro.config.queue.enabled:
        from .queue._install import install as _install_queue

        _install_queue(pro)
