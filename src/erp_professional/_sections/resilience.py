from __future__ import annotations

from ._base import Section


class ResilienceConfig(Section):
    """Settings of the resilience capability."""

    enabled: bool = True
