"""Global limits (sans-I/O): how many jobs may run at once and start per window.

A limit belongs to a task or to the whole queue. Backends store the definitions (JSON, one
per task, ``""`` for the queue) so that every worker enforces the same numbers when it
fetches. Rate strings use the same syntax as the HTTP rate limits of the security
capability (``limits``' notation): ``"100/second"``, ``"10/minute"``, ``"5 per 2 seconds"``,
several joined by ``;`` (``"10/second;1000/hour"``, each must hold).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "QUEUE_LIMIT",
    "UNLIMITED",
    "Limits",
    "QueueLimits",
    "Rate",
    "Stored",
    "parse_rate_limit",
    "rate_budget",
]

QUEUE_LIMIT = ""
"""Key of the queue-wide limit among the stored definitions (no task has an empty name)."""

UNLIMITED = 1 << 50
"""Capacity of something without a limit (larger than any batch a worker fetches)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``amount`` job starts within any ``window`` seconds (a sliding window)."""

    amount: int
    window: float

    @property
    def window_ms(self) -> int:
        return int(self.window * 1000)

    def __str__(self) -> str:
        return f"{self.amount} per {self.window:g} seconds"


def parse_rate_limit(value: str | Sequence[Rate]) -> tuple[Rate, ...]:
    """``"100/second"``, ``"5 per 2 seconds"``, ``"10/second;1000/hour"`` to rates.

    Raises ``ValueError`` naming the accepted forms for anything else.
    """
    if not isinstance(value, str):
        rates = tuple(value)
        if not rates or not all(isinstance(r, Rate) for r in rates):
            raise ValueError(f"a rate limit must be a string such as '100/second', got {value!r}")
    else:
        from limits import parse_many

        try:
            items = parse_many(value.strip().lower())
        except ValueError:
            items = []
        if not items:
            raise ValueError(
                f"{value!r} is not a rate limit: write it as '100/second', '10/minute', "
                "'5 per 2 seconds', or several joined by ';' ('10/second;1000/hour')"
            ) from None
        rates = tuple(Rate(item.amount, float(item.get_expiry())) for item in items)
    for rate in rates:
        if rate.amount < 1 or rate.window_ms < 1:
            raise ValueError(
                f"{value!r}: a rate limit allows at least 1 job per window of at least 1 ms"
            )
    return rates


def _concurrency(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer or None, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    """The global limits of one task (or of the queue): ``None`` / ``()`` means none."""

    concurrency: int | None = None
    rate: tuple[Rate, ...] = ()

    @classmethod
    def of(cls, rate_limit: str | Sequence[Rate] | None, concurrency_limit: int | None) -> Limits:
        """Validated limits from the user-facing options; ``ValueError`` on bad input."""
        rates = () if rate_limit is None else parse_rate_limit(rate_limit)
        return cls(_concurrency(concurrency_limit, "concurrency_limit"), rates)

    def __bool__(self) -> bool:
        return self.concurrency is not None or bool(self.rate)

    def to_json(self) -> str:
        """The stored form: ``{"c": concurrency or 0, "r": [[amount, window ms], ...]}``."""
        rates = [[r.amount, r.window_ms] for r in self.rate]
        return json.dumps({"c": self.concurrency or 0, "r": rates}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Limits:
        data = json.loads(text)
        rates = tuple(Rate(int(a), int(w) / 1000) for a, w in data.get("r", []))
        return cls(int(data.get("c", 0)) or None, rates)


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """The limits stored for a queue: its own, and those of each task that has any."""

    queue: Limits
    tasks: dict[str, Limits]

    @classmethod
    def from_stored(cls, definitions: dict[str, str]) -> QueueLimits:
        own = definitions.get(QUEUE_LIMIT)
        tasks = {k: Limits.from_json(v) for k, v in sorted(definitions.items()) if k != QUEUE_LIMIT}
        return cls(Limits.from_json(own) if own else Limits(), tasks)


@dataclass(frozen=True, slots=True)
class Stored:
    """A decoded definition as the backends use it (window in ms, 0 for no concurrency)."""

    concurrency: int
    rates: tuple[tuple[int, int], ...]

    @classmethod
    def decode(cls, text: str) -> Stored:
        data = json.loads(text)
        return cls(int(data.get("c", 0)), tuple((int(a), int(w)) for a, w in data.get("r", [])))


def rate_budget(
    starts: Sequence[int], rates: Sequence[tuple[int, int]], now_ms: int
) -> tuple[int, int]:
    """Starts still allowed now under every rate, and when the tightest exhausted one frees
    (ms; -1 when none is exhausted). ``starts`` are start times in ascending order; a start
    at ``t`` counts in the window ``(now - w, now]``."""
    budget, free_at = UNLIMITED, -1
    total = len(starts)
    for amount, window in rates:
        used = total - bisect.bisect_right(starts, now_ms - window)
        left = amount - used
        budget = min(budget, left)
        if left <= 0:
            # Once the amount-th newest start leaves the window, fewer than amount remain.
            free_at = max(free_at, starts[total - amount] + window)
    return budget, free_at
