"""Cheap deadlines for asyncio tasks: one timer per event loop instead of one per call.

``asyncio.timeout`` schedules and cancels a timer handle for every call, which costs
several microseconds. The watchdog keeps the active deadlines in a dict and a single timer
handle set to the earliest one; a call that finishes in time only adds and removes an entry.
"""

from __future__ import annotations

import asyncio
import math
import weakref

__all__ = ["Deadline", "watchdog"]


class Deadline:
    """One guarded call: when it expires the task is cancelled and ``expired`` is set."""

    __slots__ = ("cancelling", "expired", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[object]) -> None:
        self.when = when
        self.task = task
        self.expired = False
        self.cancelling = task.cancelling()


class Watchdog:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.active: dict[int, Deadline] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.wake_at = math.inf

    def add(self, seconds: float) -> Deadline:
        task = asyncio.current_task(self.loop)
        if task is None:
            raise RuntimeError("an async timeout must run inside an asyncio task")
        deadline = Deadline(self.loop.time() + seconds, task)
        self.active[id(deadline)] = deadline
        if deadline.when < self.wake_at:
            self._schedule(deadline.when)
        return deadline

    def remove(self, deadline: Deadline) -> None:
        self.active.pop(id(deadline), None)

    def _schedule(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.wake_at = when
        self.handle = self.loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self.handle = None
        self.wake_at = math.inf
        now = self.loop.time()
        earliest = math.inf
        for key, deadline in list(self.active.items()):
            if deadline.when <= now:
                del self.active[key]
                deadline.expired = True
                deadline.task.cancel()
            elif deadline.when < earliest:
                earliest = deadline.when
        if earliest < math.inf:
            self._schedule(earliest)


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
    weakref.WeakKeyDictionary()
)
_last: tuple[asyncio.AbstractEventLoop | None, Watchdog | None] = (None, None)


def watchdog() -> Watchdog:
    """The watchdog of the running event loop."""
    global _last
    loop = asyncio.get_running_loop()
    cached_loop, cached = _last
    if cached_loop is loop and cached is not None:
        return cached
    found = _WATCHDOGS.get(loop)
    if found is None:
        found = Watchdog(loop)
        _WATCHDOGS[loop] = found
    _last = (loop, found)
    return found
