"""Sliding windows with O(1) aggregates: count-based (last N calls) and time-based (last N s).

A window records an outcome as two bits (failure, slow) and keeps running totals, so a
record and a snapshot cost the same whatever the window size.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CountWindow", "Snapshot", "TimeWindow", "Window"]

FAILURE = 1
SLOW = 2


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Totals over the window."""

    calls: int
    failures: int
    slow: int

    @property
    def failure_rate(self) -> float:
        """Failed calls in percent (0 when empty)."""
        return 100.0 * self.failures / self.calls if self.calls else 0.0

    @property
    def slow_rate(self) -> float:
        """Slow calls in percent (0 when empty)."""
        return 100.0 * self.slow / self.calls if self.calls else 0.0


class CountWindow:
    """The last ``size`` calls, in a ring buffer."""

    __slots__ = ("_filled", "_index", "_ring", "calls", "failures", "size", "slow")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1, got {size}")
        self.size = size
        self._ring = bytearray(size)
        self._index = 0
        self._filled = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, flags: int, now: float) -> None:
        index = self._index
        if self._filled == self.size:
            old = self._ring[index]
            self.failures -= old & FAILURE
            self.slow -= (old & SLOW) >> 1
        else:
            self._filled += 1
            self.calls += 1
        self._ring[index] = flags
        self.failures += flags & FAILURE
        self.slow += (flags & SLOW) >> 1
        index += 1
        self._index = 0 if index == self.size else index

    def record_successes(self, count: int) -> None:
        """Record ``count`` plain successes at once (same result as ``count`` records)."""
        size = self.size
        if self._filled < size:
            for _ in range(count):
                self.record(0, 0.0)
            return
        if count >= size:
            self._ring[:] = bytes(size)
            self.failures = self.slow = 0
            self._index = (self._index + count) % size
            return
        ring = self._ring
        start = self._index
        end = start + count
        spans = [(start, min(end, size))]
        if end > size:
            spans.append((0, end - size))
        for low, high in spans:
            segment = ring[low:high]
            both = segment.count(3)
            self.failures -= segment.count(1) + both
            self.slow -= segment.count(2) + both
            ring[low:high] = bytes(high - low)
        self._index = end % size

    def snapshot(self, now: float) -> Snapshot:
        return Snapshot(self.calls, self.failures, self.slow)

    def clear(self) -> None:
        self.__init__(self.size)  # type: ignore[misc]


class TimeWindow:
    """Calls of the last ``size`` seconds, in one-second buckets.

    The window covers the current (partial) second and the ``size - 1`` before it.
    Advancing clears at most ``size`` buckets, so the cost is O(1) amortized.
    """

    __slots__ = ("_calls", "_failures", "_head", "_slow", "calls", "failures", "size", "slow")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1 second, got {size}")
        self.size = size
        self._calls = [0] * size
        self._failures = [0] * size
        self._slow = [0] * size
        self._head: int | None = None
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def _advance(self, now: float) -> int:
        second = int(now // 1)
        head = self._head
        if head is None:
            self._head = second
        elif second > head:
            for expired in range(head + 1, min(second, head + self.size) + 1):
                slot = expired % self.size
                self.calls -= self._calls[slot]
                self.failures -= self._failures[slot]
                self.slow -= self._slow[slot]
                self._calls[slot] = self._failures[slot] = self._slow[slot] = 0
            self._head = second
        return second

    def record(self, flags: int, now: float) -> None:
        second = self._advance(now)
        if self._head is not None and second < self._head:
            second = self._head  # the clock went backwards: count it in the newest bucket
        slot = second % self.size
        self._calls[slot] += 1
        self.calls += 1
        if flags & FAILURE:
            self._failures[slot] += 1
            self.failures += 1
        if flags & SLOW:
            self._slow[slot] += 1
            self.slow += 1

    def snapshot(self, now: float) -> Snapshot:
        self._advance(now)
        return Snapshot(self.calls, self.failures, self.slow)

    def clear(self) -> None:
        self.__init__(self.size)  # type: ignore[misc]


Window = CountWindow | TimeWindow
