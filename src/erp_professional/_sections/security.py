from __future__ import annotations

from ._base import Section


class SecurityConfig(Section):
    """Settings of the security capability."""

    enabled: bool = True
