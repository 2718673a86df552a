"""Cron schedules: fire times in a time zone (DST-correct), misfire policies, descriptions."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ._model import JSON

__all__ = ["Misfire", "Schedule", "due_fires"]

CATCH_UP_WINDOW_MS = 7 * 86_400_000
MAX_CATCH_UP = 100


class Misfire(enum.StrEnum):
    """What to do with fire times missed while no worker was running the scheduler."""

    SKIP = "skip"
    """Fire only if the latest missed time is within the grace period; drop the rest."""
    RUN_ONCE = "run_once"
    """Fire once for the latest missed time (the default)."""
    CATCH_UP = "catch_up"
    """Fire once for each missed time (at most 100, within a week)."""


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron expression that enqueues ``task`` with ``kwargs`` at each fire time."""

    id: str
    cron: str
    task: str
    kwargs: dict[str, JSON] = field(default_factory=dict)
    tz: str = "UTC"
    misfire: Misfire = Misfire.RUN_ONCE
    grace: float = 60.0
    priority: int = 0

    def __post_init__(self) -> None:
        zone = _zone(self.tz)
        try:
            CronSim(self.cron, datetime.now(zone))
        except CronSimError as exc:
            raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from None
        if not self.id or any(c in self.id for c in "\n\r"):
            raise ValueError(f"invalid schedule id {self.id!r}")

    def describe(self) -> str:
        """A human-readable description, e.g. ``At 08:00 on Monday (Europe/Berlin)``."""
        text = CronSim(self.cron, datetime.now(_zone(self.tz))).explain()
        return f"{text} ({self.tz})"

    def to_json(self) -> str:
        data = {
            "cron": self.cron,
            "task": self.task,
            "kwargs": self.kwargs,
            "tz": self.tz,
            "misfire": self.misfire.value,
            "grace": self.grace,
            "priority": self.priority,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, sched_id: str, text: str) -> Schedule:
        data = json.loads(text)
        return cls(
            id=sched_id,
            cron=data["cron"],
            task=data["task"],
            kwargs=data.get("kwargs", {}),
            tz=data.get("tz", "UTC"),
            misfire=Misfire(data.get("misfire", "run_once")),
            grace=float(data.get("grace", 60.0)),
            priority=int(data.get("priority", 0)),
        )

    def next_after(self, after_ms: int) -> int:
        """The first fire time strictly after ``after_ms`` (epoch milliseconds)."""
        start = datetime.fromtimestamp(after_ms / 1000, _zone(self.tz))
        return int(next(CronSim(self.cron, start)).timestamp() * 1000)


def due_fires(schedule: Schedule, last_ms: int, now_ms: int) -> tuple[list[int], int, int]:
    """Fire times to enqueue now, the new "last fired" mark and the next fire time.

    Everything in ``(last_ms, now_ms]`` is due; the misfire policy picks which of them
    become jobs. The mark moves to the latest due time even when the policy skips it.
    """
    start_ms = max(last_ms, now_ms - CATCH_UP_WINDOW_MS)
    due: list[int] = []
    times = CronSim(schedule.cron, datetime.fromtimestamp(start_ms / 1000, _zone(schedule.tz)))
    while True:
        moment = int(next(times).timestamp() * 1000)
        if moment > now_ms:
            break
        due.append(moment)
        if len(due) > MAX_CATCH_UP:
            due.pop(0)
    if not due:
        return [], last_ms, moment
    latest = due[-1]
    if schedule.misfire is Misfire.CATCH_UP:
        fires = due
    elif schedule.misfire is Misfire.RUN_ONCE:
        fires = [latest]
    else:
        fires = [latest] if now_ms - latest <= schedule.grace * 1000 else []
    return fires, latest, moment
