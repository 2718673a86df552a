"""``AsyncProjectionRunner``: the asyncio twin of :class:`ProjectionRunner`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ._core import check_name, check_types
from ._projection import ASYNC_LAGS, ProjectionHealth, processed
from ._store import AsyncEventStore
from ._types import RecordedEvent

AsyncHandler = Callable[[Sequence[RecordedEvent], object], Coroutine[Any, Any, None]]
AsyncReset = Callable[[object], Coroutine[Any, Any, None]]


async def _nothing(events: Sequence[RecordedEvent], tx: object) -> None:
    return None


class AsyncProjectionRunner:
    """Runs one named projection over an :class:`AsyncEventStore` (see ProjectionRunner).

    The handler is a coroutine function ``handler(events, tx)``: on PostgreSQL ``tx`` is
    the open ``psycopg.AsyncConnection``; on SQLite it is the store's ``sqlite3``
    connection (its calls are quick and block the loop briefly); ``None`` for memory.
    """

    def __init__(
        self,
        store: AsyncEventStore,
        name: str,
        handler: AsyncHandler,
        *,
        reset: AsyncReset | None = None,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        transactional: bool = True,
        batch_size: int | None = None,
        poll_interval: float | None = None,
        max_lag: int = 1000,
    ) -> None:
        self.store = store
        self.name = check_name("projection name", name)
        self._handler = handler
        self._reset = reset
        self._types = check_types(types)
        self._prefix = stream_prefix
        self._transactional = transactional
        self._batch = batch_size or store.config.batch_size
        self._poll = poll_interval or store.config.poll_interval
        self._max_lag = max_lag
        self.active = False

    async def checkpoint(self) -> int:
        """Position of the last event this projection has processed."""
        return await (await self.store.backend()).checkpoint(self.name)

    async def lag(self) -> int:
        """How many positions the projection is behind the store."""
        backend = await self.store.backend()
        lag = max(0, await backend.last_position() - await backend.checkpoint(self.name))
        ASYNC_LAGS[self] = (self.name, lag)
        return lag

    async def health(self) -> ProjectionHealth:
        """A health check: healthy while the lag is at most ``max_lag``."""
        lag = await self.lag()
        return ProjectionHealth(self.name, lag, self.active, lag <= self._max_lag)

    async def _step(self) -> int:
        backend = await self.store.backend()
        after = await backend.checkpoint(self.name)
        events, _ = await backend.read_all(
            after, self._batch, self._types, self._prefix, self._poll
        )
        if not events:
            return 0
        if self._transactional:
            await backend.handle(self.name, events, self._handler)
        else:
            await self._handler(events, None)
            await backend.handle(self.name, events, _nothing)
        processed.add(len(events), {"projection": self.name})
        return len(events)

    async def run_once(self) -> int:
        """Process every event available now; returns how many were processed."""
        total = 0
        while True:
            done = await self._step()
            total += done
            if done < self._batch:
                await self.lag()
                return total

    async def rebuild(self) -> int:
        """Reset the projection (its ``reset`` callback and checkpoint) and replay all."""
        backend = await self.store.backend()
        leader = backend.leader(self.name)
        acquired = not self.active
        if acquired and not await leader.try_acquire():
            raise RuntimeError(f"projection {self.name!r} is running elsewhere; stop it first")
        try:
            if self._reset is not None:
                reset = self._reset

                async def call_reset(_events: Sequence[RecordedEvent], tx: object) -> None:
                    await reset(tx)

                await backend.handle(self.name, (), call_reset)
            await backend.reset_checkpoint(self.name)
            return await self.run_once()
        finally:
            if acquired:
                await leader.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the store until ``stop`` is set (standing by while another runner leads)."""
        backend = await self.store.backend()
        leader = backend.leader(self.name)
        waiter = backend.waiter()
        try:
            while not stop.is_set():
                if not await leader.try_acquire():
                    self.active = False
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._poll)
                    continue
                self.active = True
                waiter.mark()
                if await self._step() < self._batch:
                    await self.lag()
                    await waiter.wait(self._poll)
        finally:
            self.active = False
            await leader.release()
            await waiter.close()
