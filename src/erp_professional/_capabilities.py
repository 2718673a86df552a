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
    return None
