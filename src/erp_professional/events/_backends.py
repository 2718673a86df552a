"""Open a backend for a URL, and the thread-backed async face of the sync backends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from erp_professional.config import EventsConfig
from erp_professional.connections import MissingDependencyError, check_scheme

from ._core import AuditQuery, Batch, check_prefix
from ._memory import MemoryBackend
from ._protocol import AsyncBatchHandler, Backend, Leader, SignalWaiter, Snapshot, StoreStats
from ._sqlite import SQLiteBackend
from ._types import AppendResult, RecordedEvent

SCHEMES = ("memory", "sqlite", "postgresql")


Options = EventsConfig


def require_psycopg() -> None:
    """Fail with the extra to install when psycopg is missing."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise MissingDependencyError("psycopg", "postgres", "postgresql:// event stores") from None


def open_backend(url: str, options: Options) -> Backend:
    parsed = check_scheme(url, SCHEMES, "EventStore")
    prefix = check_prefix(options.table_prefix)
    backend: Backend
    if parsed.kind == "memory":
        backend = MemoryBackend(url + "#" + prefix)
    elif parsed.kind == "sqlite":
        backend = SQLiteBackend(url, prefix, options.busy_retry_seconds, options.sqlite_synchronous)
    else:
        require_psycopg()
        from ._postgres import PostgresBackend

        backend = PostgresBackend(url, prefix, notify=options.notify)
    backend.setup()
    return backend


class AsyncLeader(Protocol):
    async def try_acquire(self) -> bool: ...
    async def release(self) -> None: ...


class _ThreadLeader:
    def __init__(self, inner: Leader) -> None:
        self._inner = inner

    async def try_acquire(self) -> bool:
        return await asyncio.to_thread(self._inner.try_acquire)

    async def release(self) -> None:
        await asyncio.to_thread(self._inner.release)


class AsyncWaiter(Protocol):
    def mark(self) -> None: ...
    async def wait(self, seconds: float) -> None: ...
    async def close(self) -> None: ...


class AsyncBackend(Protocol):
    """The async twin of :class:`Backend` (same operations, awaited)."""

    async def setup(self) -> None: ...
    async def append(self, batches: Sequence[Batch]) -> list[AppendResult]: ...
    async def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]: ...
    async def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]: ...
    async def audit(self, query: AuditQuery) -> list[RecordedEvent]: ...
    async def stream_version(self, stream_id: str) -> int: ...
    async def stats(self) -> StoreStats: ...
    def waiter(self) -> AsyncWaiter: ...
    async def save_snapshot(self, snapshot: Snapshot) -> None: ...
    async def load_snapshot(self, stream_id: str) -> Snapshot | None: ...
    async def delete_snapshots(self, stream_prefix: str | None) -> int: ...
    async def checkpoint(self, name: str) -> int: ...
    async def handle(
        self, name: str, events: Sequence[RecordedEvent], handler: AsyncBatchHandler
    ) -> None: ...
    async def reset_checkpoint(self, name: str) -> None: ...
    async def last_position(self) -> int: ...
    def leader(self, name: str) -> AsyncLeader: ...
    async def close(self) -> None: ...


class _AsyncSignalWaiter:
    def __init__(self, inner: SignalWaiter) -> None:
        self._inner = inner

    def mark(self) -> None:
        self._inner.mark()

    async def wait(self, seconds: float) -> None:
        await self._inner.async_wait(seconds)

    async def close(self) -> None:
        self._inner.close()


class ThreadedBackend:
    """Runs a memory or SQLite backend's calls in worker threads (they never block a loop)."""

    def __init__(self, inner: MemoryBackend | SQLiteBackend) -> None:
        self._b = inner

    async def setup(self) -> None:
        await asyncio.to_thread(self._b.setup)

    async def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        if isinstance(self._b, MemoryBackend):
            return self._b.append(batches)
        return await asyncio.to_thread(self._b.append, batches)

    async def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        return await asyncio.to_thread(
            self._b.read_stream, stream_id, from_version, backwards, limit
        )

    async def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]:
        return await asyncio.to_thread(self._b.read_all, after, limit, types, prefix, wait)

    async def audit(self, query: AuditQuery) -> list[RecordedEvent]:
        return await asyncio.to_thread(self._b.audit, query)

    async def stream_version(self, stream_id: str) -> int:
        return await asyncio.to_thread(self._b.stream_version, stream_id)

    async def stats(self) -> StoreStats:
        return await asyncio.to_thread(self._b.stats)

    def waiter(self) -> AsyncWaiter:
        return _AsyncSignalWaiter(self._b.waiter())

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        await asyncio.to_thread(self._b.save_snapshot, snapshot)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        return await asyncio.to_thread(self._b.load_snapshot, stream_id)

    async def delete_snapshots(self, stream_prefix: str | None) -> int:
        return await asyncio.to_thread(self._b.delete_snapshots, stream_prefix)

    async def checkpoint(self, name: str) -> int:
        return await asyncio.to_thread(self._b.checkpoint, name)

    async def handle(
        self, name: str, events: Sequence[RecordedEvent], handler: AsyncBatchHandler
    ) -> None:
        # The transaction is held by a worker thread; the handler runs on this loop and
        # the worker waits for it, so its writes commit (or roll back) with the checkpoint.
        loop = asyncio.get_running_loop()

        def in_transaction(batch: Sequence[RecordedEvent], tx: object) -> None:
            asyncio.run_coroutine_threadsafe(handler(batch, tx), loop).result()

        await asyncio.to_thread(self._b.handle, name, events, in_transaction)

    async def reset_checkpoint(self, name: str) -> None:
        await asyncio.to_thread(self._b.reset_checkpoint, name)

    async def last_position(self) -> int:
        return await asyncio.to_thread(self._b.last_position)

    def leader(self, name: str) -> AsyncLeader:
        return _ThreadLeader(self._b.leader(name))

    async def close(self) -> None:
        await asyncio.to_thread(self._b.close)


async def open_async_backend(url: str, options: Options) -> AsyncBackend:
    parsed = check_scheme(url, SCHEMES, "AsyncEventStore")
    prefix = check_prefix(options.table_prefix)
    backend: AsyncBackend
    if parsed.kind == "postgresql":
        require_psycopg()
        from ._postgres_async import AsyncPostgresBackend

        backend = AsyncPostgresBackend(url, prefix, notify=options.notify)
        await backend.setup()
        return backend
    if parsed.kind == "memory":
        inner: MemoryBackend | SQLiteBackend = MemoryBackend(url + "#" + prefix)
    else:
        inner = await asyncio.to_thread(
            SQLiteBackend, url, prefix, options.busy_retry_seconds, options.sqlite_synchronous
        )
    backend = ThreadedBackend(inner)
    await backend.setup()
    return backend
