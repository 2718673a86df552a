"""``@bulkhead``: limit concurrent calls, with a bounded, time-limited waiting room.

One bulkhead counts threads and asyncio tasks together: a slot taken by a thread is a slot
an async task cannot take. Async waiters never block the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import ParamSpec, TypeVar, cast, overload

from ._errors import BulkheadFullError
from ._kinds import kind_of
from ._metrics import BULKHEAD_REJECTED

__all__ = ["Bulkhead", "bulkhead"]

P = ParamSpec("P")
R = TypeVar("R")


class Bulkhead:
    """At most ``max_concurrent`` calls run at once; up to ``max_waiting`` more wait at most
    ``wait_timeout`` seconds (``None``: as long as it takes) for a slot; others are rejected
    at once with :class:`BulkheadFullError`."""

    def __init__(
        self,
        max_concurrent: int = 10,
        max_waiting: int = 0,
        wait_timeout: float | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if max_waiting < 0:
            raise ValueError(f"max_waiting must not be negative, got {max_waiting}")
        if wait_timeout is not None and wait_timeout < 0:
            raise ValueError(f"wait_timeout must not be negative, got {wait_timeout}")
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self.wait_timeout = wait_timeout
        self.name = name or "bulkhead"
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        self._active = 0
        self._waiting = 0
        self._async_waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self.rejected = 0

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return self._waiting

    def _reject(self) -> BulkheadFullError:
        self.rejected += 1
        BULKHEAD_REJECTED.add(bulkhead=self.name)
        return BulkheadFullError(self.name, self.max_concurrent, self.max_waiting)

    def try_acquire(self) -> bool:
        """Take a slot if one is free now, without waiting."""
        with self._lock:
            if self._active < self.max_concurrent:
                self._active += 1
                return True
            return False

    def acquire(self) -> None:
        """Take a slot, waiting if allowed (blocks the thread)."""
        with self._lock:
            if self._active < self.max_concurrent:
                self._active += 1
                return
            if self._waiting >= self.max_waiting:
                raise self._reject()
            self._waiting += 1
            try:
                deadline = (
                    None if self.wait_timeout is None else time.monotonic() + self.wait_timeout
                )
                while self._active >= self.max_concurrent:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise self._reject()
                    self._condition.wait(remaining)
                self._active += 1
            finally:
                self._waiting -= 1

    async def acquire_async(self) -> None:
        """Take a slot, waiting without blocking the event loop if allowed."""
        with self._lock:
            if self._active < self.max_concurrent:
                self._active += 1
                return
            if self._waiting >= self.max_waiting:
                raise self._reject()
            self._waiting += 1
        loop = asyncio.get_running_loop()
        deadline = None if self.wait_timeout is None else loop.time() + self.wait_timeout
        acquired = False
        try:
            while True:
                future: asyncio.Future[None] = loop.create_future()
                with self._lock:
                    if self._active < self.max_concurrent:
                        self._active += 1
                        acquired = True
                        return
                    self._async_waiters.append((loop, future))
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise self._reject()
                try:
                    await asyncio.wait_for(future, remaining)
                except TimeoutError:
                    raise self._reject() from None
        finally:
            with self._lock:
                self._waiting -= 1
                self._async_waiters = deque(
                    item for item in self._async_waiters if not item[1].done()
                )
                if not acquired and self._active < self.max_concurrent:
                    self._wake_one()  # we may have swallowed a wake-up: pass it on

    def release(self) -> None:
        with self._lock:
            self._active -= 1
            if self._waiting:
                self._wake_one()

    def _wake_one(self) -> None:
        """Wake a waiting thread and a waiting task (lock held); the first to run wins."""
        self._condition.notify()
        while self._async_waiters:
            loop, future = self._async_waiters.popleft()
            if not future.done():
                try:
                    loop.call_soon_threadsafe(_wake, future)
                except RuntimeError:  # that event loop is closed: wake the next waiter
                    continue
                break

    # -- context managers ---------------------------------------------------------------
    def __enter__(self) -> Bulkhead:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    async def __aenter__(self) -> Bulkhead:
        await self.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # -- decorator ------------------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        if self.name == "bulkhead":
            self.name = f"{fn.__module__}.{fn.__qualname__}"
        kind = kind_of(fn)
        wrapper: Callable[..., object]
        if kind == "async":
            afn = cast(Callable[..., Awaitable[object]], fn)

            lock = self._lock
            limit = self.max_concurrent

            async def async_wrapper(*args: object, **kwargs: object) -> object:
                with lock:
                    free = self._active < limit
                    if free:
                        self._active += 1
                if not free:
                    await self.acquire_async()
                try:
                    return await afn(*args, **kwargs)
                finally:
                    self.release()

            wrapper = async_wrapper
        elif kind == "generator":
            gfn = cast(Callable[..., Iterator[object]], fn)

            def gen_wrapper(*args: object, **kwargs: object) -> Iterator[object]:
                self.acquire()
                try:
                    yield from gfn(*args, **kwargs)
                finally:
                    self.release()

            wrapper = gen_wrapper
        elif kind == "async_generator":
            agfn = cast(Callable[..., AsyncIterator[object]], fn)

            async def agen_wrapper(*args: object, **kwargs: object) -> AsyncIterator[object]:
                await self.acquire_async()
                try:
                    async for item in agfn(*args, **kwargs):
                        yield item
                finally:
                    self.release()

            wrapper = agen_wrapper
        else:
            sfn = cast(Callable[..., object], fn)

            def sync_wrapper(*args: object, **kwargs: object) -> object:
                self.acquire()
                try:
                    return sfn(*args, **kwargs)
                finally:
                    self.release()

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, fn)
        return cast(Callable[P, R], wrapper)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@overload
def bulkhead(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def bulkhead(
    fn: None = None,
    /,
    *,
    max_concurrent: int = 10,
    max_waiting: int = 0,
    wait_timeout: float | None = None,
    name: str | None = None,
) -> Bulkhead: ...
def bulkhead(
    fn: Callable[P, R] | None = None,
    /,
    *,
    max_concurrent: int = 10,
    max_waiting: int = 0,
    wait_timeout: float | None = None,
    name: str | None = None,
) -> Callable[P, R] | Bulkhead:
    """Limit concurrency: ``@bulkhead`` (10 at once, no waiting) or
    ``@bulkhead(max_concurrent=4, max_waiting=8, wait_timeout=1.0)``."""
    policy = Bulkhead(max_concurrent, max_waiting, wait_timeout, name=name)
    return policy(fn) if fn is not None else policy
