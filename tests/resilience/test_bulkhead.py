from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from erp_professional.resilience import Bulkhead, BulkheadFullError, bulkhead


def test_bare_bulkhead_allows_ten_at_once() -> None:
    gate = threading.Event()
    started = threading.Semaphore(0)

    @bulkhead
    def work() -> str:
        started.release()
        assert gate.wait(5)
        return "done"

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for _ in range(10):
        assert started.acquire(timeout=5)
    with pytest.raises(BulkheadFullError, match="is full"):
        work()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert work() == "done"


def test_threads_wait_then_time_out() -> None:
    guard = Bulkhead(max_concurrent=1, max_waiting=1, wait_timeout=0.2, name="db")
    inside = threading.Event()
    leave = threading.Event()

    @guard
    def hold() -> None:
        inside.set()
        assert leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    results: list[object] = []

    def waiter() -> None:
        try:
            results.append(guard(lambda: "late")())
        except BulkheadFullError as exc:
            results.append(exc)

    first = threading.Thread(target=waiter)
    first.start()
    time.sleep(0.05)
    with pytest.raises(BulkheadFullError):  # the waiting room (1) is taken: rejected at once
        guard(lambda: None)()
    first.join(5)
    assert isinstance(results[0], BulkheadFullError)  # waited 0.2 s, then gave up
    leave.set()
    holder.join(5)
    assert guard.rejected == 2
    assert (guard.active, guard.waiting) == (0, 0)


def test_waiting_thread_gets_the_freed_slot() -> None:
    guard = Bulkhead(max_concurrent=1, max_waiting=1, wait_timeout=5)
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with guard:
            inside.set()
            assert leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    result: list[str] = []
    waiter = threading.Thread(target=lambda: result.append(guard(lambda: "got it")()))
    waiter.start()
    time.sleep(0.05)
    leave.set()
    waiter.join(5)
    holder.join(5)
    assert result == ["got it"]


@pytest.mark.anyio
async def test_async_tasks_limit_wait_and_reject() -> None:
    guard = Bulkhead(max_concurrent=2, max_waiting=1, wait_timeout=1.0)
    running = 0
    peak = 0

    @guard
    async def work() -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return 1

    results = await asyncio.gather(*(work() for _ in range(4)), return_exceptions=True)
    assert peak == 2
    assert results.count(1) == 3  # two ran, one waited
    assert sum(isinstance(r, BulkheadFullError) for r in results) == 1
    assert (guard.active, guard.waiting) == (0, 0)


@pytest.mark.anyio
async def test_async_wait_timeout_rejects() -> None:
    guard = Bulkhead(max_concurrent=1, max_waiting=5, wait_timeout=0.05)
    async with guard:
        with pytest.raises(BulkheadFullError):
            async with guard:
                pass
    async with guard:
        assert guard.active == 1
    assert guard.active == 0


@pytest.mark.anyio
async def test_cancelled_waiter_leaves_no_trace() -> None:
    guard = Bulkhead(max_concurrent=1, max_waiting=2)
    async with guard:
        task = asyncio.ensure_future(guard.acquire_async())
        await asyncio.sleep(0.01)
        assert guard.waiting == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert guard.waiting == 0
    async with guard:
        pass


def test_generators_hold_their_slot_while_iterating() -> None:
    guard = Bulkhead(max_concurrent=1)

    @guard
    def numbers() -> Iterator[int]:
        yield 1
        yield 2

    iterator = numbers()
    assert next(iterator) == 1
    with pytest.raises(BulkheadFullError):
        list(numbers())
    assert list(iterator) == [2]
    assert list(numbers()) == [1, 2]


@pytest.mark.anyio
async def test_async_generators_hold_their_slot() -> None:
    guard = Bulkhead(max_concurrent=1)

    @guard
    async def numbers() -> AsyncIterator[int]:
        yield 1
        yield 2

    iterator = numbers()
    assert await anext(iterator) == 1
    with pytest.raises(BulkheadFullError):
        _ = [item async for item in numbers()]
    assert [item async for item in iterator] == [2]


def test_invalid_configuration() -> None:
    for args in ((0, 0, None), (1, -1, None), (1, 0, -1.0)):
        with pytest.raises(ValueError):
            Bulkhead(*args)
