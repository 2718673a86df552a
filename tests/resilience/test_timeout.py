from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from erp_professional.resilience import CallTimeoutError, Timeout, timeout

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def test_sync_call_stops_waiting_and_keeps_context() -> None:
    finished = threading.Event()

    @timeout(0.05)
    def slow() -> None:
        finished.wait(0.5)

    @timeout(1)
    def quick() -> str:
        return request_id.get()

    with pytest.raises(CallTimeoutError, match=r"did not finish within 0\.05s") as info:
        slow()
    assert isinstance(info.value, TimeoutError)
    assert not finished.is_set()  # the worker thread is still running: it cannot be killed
    finished.set()
    request_id.set("r-1")
    assert quick() == "r-1"


def test_sync_errors_pass_through() -> None:
    @timeout(1)
    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        broken()
    assert Timeout(1).call(lambda a, b: a + b, 1, 2) == 3


def test_bare_timeout_decorator() -> None:
    @timeout
    def answer() -> int:
        return 42

    assert answer() == 42


def test_generator_has_one_deadline() -> None:
    stop = threading.Event()

    @timeout(0.1)
    def items() -> Iterator[int]:
        yield 1
        stop.wait(1)
        yield 2

    iterator = items()
    assert next(iterator) == 1
    with pytest.raises(CallTimeoutError):
        next(iterator)
    stop.set()


@pytest.mark.anyio
async def test_async_call_is_cancelled() -> None:
    cancelled = False

    @timeout(0.05)
    async def slow() -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled = True
            raise

    with pytest.raises(CallTimeoutError):
        await slow()
    assert cancelled


@pytest.mark.anyio
async def test_own_timeout_error_is_not_reported_as_ours() -> None:
    @timeout(5)
    async def raises() -> None:
        raise TimeoutError("from the callee")

    with pytest.raises(TimeoutError, match="from the callee") as info:
        await raises()
    assert not isinstance(info.value, CallTimeoutError)


@pytest.mark.anyio
async def test_async_generator_and_context_manager() -> None:
    @timeout(0.1)
    async def items() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(5)
        yield 2

    iterator = items()
    assert await anext(iterator) == 1
    with pytest.raises(CallTimeoutError):
        await anext(iterator)

    with pytest.raises(CallTimeoutError):
        async with timeout(0.02):
            await asyncio.sleep(5)
    async with timeout(1):
        await asyncio.sleep(0)


def test_sync_with_block_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="cannot interrupt"), timeout(1):
        pass


def test_invalid_seconds() -> None:
    for value in (0, -1, "1", True):
        with pytest.raises(ValueError):
            Timeout(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Timeout(1, scope="everywhere")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_many_concurrent_deadlines() -> None:
    short = timeout(0.05)
    long = timeout(2)

    async def work(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    calls = [short(work)(0.2) for _ in range(5)] + [long(work)(0.1) for _ in range(5)]
    calls += [short(work)(0.0) for _ in range(5)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, CallTimeoutError) for r in results[:5])
    assert results[5:] == [0.1] * 5 + [0.0] * 5


@pytest.mark.anyio
async def test_outer_cancellation_stays_a_cancellation() -> None:
    @timeout(5)
    async def slow() -> None:
        await asyncio.sleep(5)

    task = asyncio.ensure_future(slow())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_overrunning_calls_do_not_starve_the_others() -> None:
    release = threading.Event()

    @timeout(0.01)
    def stuck() -> None:
        release.wait(10)

    @timeout(2)
    def quick() -> str:
        return "fine"

    try:
        for _ in range(70):
            with pytest.raises(CallTimeoutError):
                stuck()
        assert quick() == "fine"
    finally:
        release.set()


def test_an_overrunning_call_does_not_keep_the_interpreter_alive() -> None:
    script = (
        "import time\n"
        "from erp_professional.resilience import CallTimeoutError, timeout\n"
        "try:\n"
        "    timeout(0.05)(time.sleep)(60)\n"
        "except CallTimeoutError:\n"
        "    print('timed out')\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "timed out", done.stderr
    assert time.monotonic() - started < 25
