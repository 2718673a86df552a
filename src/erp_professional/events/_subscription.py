"""Catch-up then live subscriptions, as an iterator and as an async iterator."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from ._types import RecordedEvent

if TYPE_CHECKING:
    from ._backends import AsyncBackend, AsyncWaiter
    from ._protocol import Backend, Waiter


class Subscription(Iterator[RecordedEvent]):
    """Every event after ``position`` exactly once, in position order, then live ones.

    ``position`` is the position of the last event handed out: store it to resume later.
    Iterating blocks; :meth:`get` waits at most ``timeout`` seconds.
    """

    def __init__(
        self,
        backend: Backend,
        after: int,
        types: tuple[str, ...] | None,
        prefix: str | None,
        batch_size: int,
        poll_interval: float,
    ) -> None:
        self.position = after
        self._scanned = after
        self._backend = backend
        self._types = types
        self._prefix = prefix
        self._batch = batch_size
        self._poll = poll_interval
        self._buffer: deque[RecordedEvent] = deque()
        self._waiter: Waiter | None = None
        self._closed = False
        self._busy = False
        self._lock = threading.Lock()

    def _fill(self) -> bool:
        if self._waiter is None:
            self._waiter = self._backend.waiter()
        self._waiter.mark()
        events, horizon = self._backend.read_all(
            self._scanned, self._batch, self._types, self._prefix, self._poll
        )
        if events:
            self._buffer.extend(events)
            self._scanned = events[-1].position
            return True
        self._scanned = max(self._scanned, horizon)
        return False

    def get(self, timeout: float | None = None) -> RecordedEvent | None:
        """The next event; ``None`` if none arrived within ``timeout`` seconds or once closed."""
        with self._lock:
            self._busy = True
        try:
            return self._get(timeout)
        finally:
            with self._lock:
                self._busy = False
                if self._closed:
                    self._release()

    def _get(self, timeout: float | None) -> RecordedEvent | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._buffer:
            if self._closed:
                return None
            if self._fill():
                break
            remaining = self._poll if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            assert self._waiter is not None
            self._waiter.wait(min(self._poll, remaining))
        event = self._buffer.popleft()
        self.position = event.position
        return event

    def __next__(self) -> RecordedEvent:
        event = self.get(None)
        if event is None:  # closed
            raise StopIteration
        return event

    def __iter__(self) -> Subscription:
        return self

    def close(self) -> None:
        """Stop the subscription (iteration ends) and release its wake-up connection.

        Safe from another thread: a blocked iteration returns within ``poll_interval``.
        """
        with self._lock:
            self._closed = True
            if not self._busy:
                self._release()

    def _release(self) -> None:
        self._buffer.clear()
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSubscription(AsyncIterator[RecordedEvent]):
    """The async twin of :class:`Subscription`."""

    def __init__(
        self,
        backend: AsyncBackend,
        after: int,
        types: tuple[str, ...] | None,
        prefix: str | None,
        batch_size: int,
        poll_interval: float,
    ) -> None:
        self.position = after
        self._scanned = after
        self._backend = backend
        self._types = types
        self._prefix = prefix
        self._batch = batch_size
        self._poll = poll_interval
        self._buffer: deque[RecordedEvent] = deque()
        self._waiter: AsyncWaiter | None = None
        self._closed = False
        self._busy = False

    async def _fill(self) -> bool:
        if self._waiter is None:
            self._waiter = self._backend.waiter()
        self._waiter.mark()
        events, horizon = await self._backend.read_all(
            self._scanned, self._batch, self._types, self._prefix, self._poll
        )
        if events:
            self._buffer.extend(events)
            self._scanned = events[-1].position
            return True
        self._scanned = max(self._scanned, horizon)
        return False

    async def get(self, timeout: float | None = None) -> RecordedEvent | None:  # noqa: ASYNC109
        """The next event; ``None`` if none arrived within ``timeout`` seconds or once closed."""
        self._busy = True
        try:
            return await self._get(None if timeout is None else time.monotonic() + timeout)
        finally:
            self._busy = False
            if self._closed:
                await self._release()

    async def _get(self, deadline: float | None) -> RecordedEvent | None:
        while not self._buffer:
            if self._closed:
                return None
            if await self._fill():
                break
            remaining = self._poll if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            assert self._waiter is not None
            await self._waiter.wait(min(self._poll, remaining))
        event = self._buffer.popleft()
        self.position = event.position
        return event

    async def __anext__(self) -> RecordedEvent:
        event = await self.get(None)
        if event is None:  # closed
            raise StopAsyncIteration
        return event

    def __aiter__(self) -> AsyncSubscription:
        return self

    async def aclose(self) -> None:
        """Stop the subscription and release its wake-up connection.

        Safe from another task: a waiting iteration returns within ``poll_interval``.
        """
        self._closed = True
        if not self._busy:
            await self._release()

    async def _release(self) -> None:
        self._buffer.clear()
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            await waiter.close()

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
