"""The small protocol every backend implements (sync), and a cross-thread wake-up signal."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._core import AuditQuery, Batch
from ._types import AppendResult, JSONObject, RecordedEvent


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts of a store: events, streams, the last position and snapshots."""

    events: int
    streams: int
    last_position: int
    snapshots: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stored aggregate snapshot: its stream, version, type, schema version and state."""

    stream_id: str
    version: int
    type: str
    schema_version: int
    state: JSONObject


# A handler of a batch of events inside the projection's transaction. The second argument
# is the backend's open connection (sqlite3.Connection, psycopg.Connection) or None.
BatchHandler = Callable[[Sequence[RecordedEvent], object], None]
# The async twin: the connection is a psycopg.AsyncConnection on PostgreSQL.
AsyncBatchHandler = Callable[[Sequence[RecordedEvent], object], Coroutine[Any, Any, None]]


class Waiter(Protocol):
    """Wakes a subscriber: ``mark`` before reading, ``wait`` until something may be new."""

    def mark(self) -> None: ...
    def wait(self, timeout: float) -> None: ...
    def close(self) -> None: ...


class Backend(Protocol):
    """Storage operations; the store facade validates input and encodes before calling."""

    def setup(self) -> None: ...
    def append(self, batches: Sequence[Batch]) -> list[AppendResult]: ...
    def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]: ...
    def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]: ...
    def audit(self, query: AuditQuery) -> list[RecordedEvent]: ...
    def stream_version(self, stream_id: str) -> int: ...
    def stats(self) -> StoreStats: ...
    def waiter(self) -> Waiter: ...
    def save_snapshot(self, snapshot: Snapshot) -> None: ...
    def load_snapshot(self, stream_id: str) -> Snapshot | None: ...
    def delete_snapshots(self, stream_prefix: str | None) -> int: ...
    def checkpoint(self, name: str) -> int: ...
    def handle(self, name: str, events: Sequence[RecordedEvent], handler: BatchHandler) -> None: ...
    def reset_checkpoint(self, name: str) -> None: ...
    def last_position(self) -> int: ...
    def leader(self, name: str) -> Leader: ...
    def close(self) -> None: ...


class Signal:
    """A counter bumped after each commit; threads and event loops can wait for a change."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.value = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def bump(self) -> None:
        with self._cond:
            self.value += 1
            self._cond.notify_all()
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            if self.value == seen:
                self._cond.wait(timeout)
            return self.value

    async def async_wait(self, seen: int, seconds: float) -> int:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        key = (loop, event)
        with self._cond:
            if self.value != seen:
                return self.value
            self._waiters.add(key)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._waiters.discard(key)
        return self.value


class SignalWaiter:
    """A :class:`Waiter` over an in-process :class:`Signal` (timeouts cover other processes)."""

    def __init__(self, signal: Signal) -> None:
        self._signal = signal
        self._seen = signal.value

    def mark(self) -> None:
        self._seen = self._signal.value

    def wait(self, timeout: float) -> None:
        self._seen = self._signal.wait(self._seen, timeout)

    async def async_wait(self, seconds: float) -> None:
        self._seen = await self._signal.async_wait(self._seen, seconds)

    def close(self) -> None:
        return None


class Leader(Protocol):
    """Exclusive right to run one projection: ``try_acquire`` never blocks."""

    def try_acquire(self) -> bool: ...
    def release(self) -> None: ...


class LocalLeader:
    """A :class:`Leader` within one process."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False

    def try_acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def local_lock(key: str) -> threading.Lock:
    with _LOCAL_GUARD:
        lock = _LOCAL_LOCKS.get(key)
        if lock is None:
            lock = _LOCAL_LOCKS[key] = threading.Lock()
        return lock
