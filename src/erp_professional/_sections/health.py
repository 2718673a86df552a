from __future__ import annotations

from ._base import Section


class HealthConfig(Section):
    """Settings of the health capability."""

    enabled: bool = True
