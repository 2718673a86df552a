"""Retry budget: retries may be at most a ratio of calls over a sliding window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RetryBudget"]


class RetryBudget:
    """Allow a retry while ``retries <= min_per_second * window + ratio * calls`` over the
    last ``window`` seconds (Finagle's and gRPC's retry budget). Share one instance between
    decorators to budget a whole downstream service.

    Counting calls takes no lock, so under heavy contention a few calls may go uncounted;
    the budget errs on the strict side.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: int = 10,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0:
            raise ValueError(f"ratio must not be negative, got {ratio}")
        if min_per_second < 0:
            raise ValueError(f"min_per_second must not be negative, got {min_per_second}")
        if window < 1:
            raise ValueError(f"window must be at least 1 second, got {window}")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._epochs = [-1] * window
        self._calls = [0] * window
        self._retries = [0] * window

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def _slot(self, second: int) -> int:
        slot = second % self.window
        if self._epochs[slot] != second:
            with self._lock:
                if self._epochs[slot] != second:
                    self._epochs[slot] = second
                    self._calls[slot] = 0
                    self._retries[slot] = 0
        return slot

    def record_call(self, now: float | None = None) -> None:
        """Count one call (its first attempt); ``now`` is a reading of the budget's clock."""
        second = int(self._clock() if now is None else now)
        slot = second % self.window
        if self._epochs[slot] != second:
            slot = self._slot(second)
        self._calls[slot] += 1

    def totals(self) -> tuple[int, int]:
        """(calls, retries) over the window."""
        second = int(self._clock())
        with self._lock:
            return self._totals(second)

    def _totals(self, second: int) -> tuple[int, int]:
        oldest = second - self.window
        calls = retries = 0
        for slot, epoch in enumerate(self._epochs):
            if oldest < epoch <= second:
                calls += self._calls[slot]
                retries += self._retries[slot]
        return calls, retries

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is exhausted."""
        second = int(self._clock())
        slot = self._slot(second)
        with self._lock:
            calls, retries = self._totals(second)
            if retries + 1 > self.min_per_second * self.window + self.ratio * calls:
                return False
            self._retries[slot] += 1
            return True
