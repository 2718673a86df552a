"""Backlog health: how old the oldest waiting job is, against warn and fail thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._model import QueueStats

__all__ = ["BacklogHealth", "judge_backlog"]


@dataclass(frozen=True, slots=True)
class BacklogHealth:
    """Result of a backlog check: ``pass``, ``warn`` or ``fail`` with the figures behind it."""

    queue: str
    status: Literal["pass", "warn", "fail"]
    oldest_waiting_age: float
    waiting: int
    active: int
    failed: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"


def judge_backlog(
    queue: str, stats: QueueStats, warn_after: float, fail_after: float
) -> BacklogHealth:
    age = stats.oldest_waiting_age
    status: Literal["pass", "warn", "fail"] = "pass"
    if age >= fail_after:
        status = "fail"
    elif age >= warn_after:
        status = "warn"
    message = (
        f"queue {queue!r}: {stats.waiting} waiting, oldest {age:.1f} s "
        f"(warn at {warn_after:g} s, fail at {fail_after:g} s)"
    )
    return BacklogHealth(queue, status, age, stats.waiting, stats.active, stats.failed, message)
