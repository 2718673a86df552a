from __future__ import annotations

from ._base import Section


class ObservabilityConfig(Section):
    """Settings of the observability capability."""

    enabled: bool = True
