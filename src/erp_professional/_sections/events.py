from __future__ import annotations

from ._base import Section


class EventsConfig(Section):
    """Settings of the events capability."""

    enabled: bool = True
