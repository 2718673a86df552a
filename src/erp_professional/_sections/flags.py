from __future__ import annotations

from ._base import Section


class FlagsConfig(Section):
    """Settings of the flags capability."""

    enabled: bool = True
