from __future__ import annotations

from ._base import Section


class QueueConfig(Section):
    """Settings of the queue capability."""

    enabled: bool = True
