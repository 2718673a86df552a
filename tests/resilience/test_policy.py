from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from erp_professional.resilience import (
    Bulkhead,
    BulkheadFullError,
    CallTimeoutError,
    CircuitBreaker,
    CircuitOpenError,
    Policy,
    State,
    bulkhead,
    circuit_breaker,
    fallback,
    retry,
    timeout,
)


def breaker(**options: object) -> CircuitBreaker:
    return CircuitBreaker(
        "policy",
        register=False,
        window_size=2,
        minimum_calls=2,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.usefixtures("no_waits")
def test_order_is_fixed_whatever_the_argument_order() -> None:
    b = breaker()
    parts = (timeout(1), retry(attempts=3), b, bulkhead(max_concurrent=2), fallback("fb"))
    policy = Policy(*parts)
    assert [type(c).__name__ for c in policy.components] == [
        "Fallback",
        "Retry",
        "CircuitBreaker",
        "Timeout",
        "Bulkhead",
    ]
    assert [type(c).__name__ for c in Policy(*reversed(parts)).components] == [
        "Fallback",
        "Retry",
        "CircuitBreaker",
        "Timeout",
        "Bulkhead",
    ]
    overall = timeout(5, scope="overall")
    assert Policy(b, overall, timeout(1)).components[:2] == (overall, b)
    with pytest.raises(ValueError, match="two retry"):
        Policy(retry(), retry())
    with pytest.raises(TypeError, match="configured policies"):
        Policy(retry)  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_waits")
def test_each_attempt_passes_the_breaker_and_has_its_own_timeout() -> None:
    b = breaker(failure_rate_threshold=100)
    attempts = 0

    @Policy(fallback("fallback"), retry(attempts=3), b, timeout(0.1))
    def call() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            time.sleep(0.3)  # first attempt times out; the retry's second attempt succeeds
        return "ok"

    assert call() == "ok"
    assert attempts == 2
    counts = b.counts
    assert (counts["failure"], counts["success"]) == (1, 1)


@pytest.mark.usefixtures("no_waits")
def test_fallback_answers_after_retries_and_for_an_open_circuit() -> None:
    b = breaker(failure_rate_threshold=100)
    attempts = 0

    @Policy(fallback(lambda exc: type(exc).__name__), retry(attempts=5), b)
    def call() -> str:
        nonlocal attempts
        attempts += 1
        raise ConnectionError

    # two failures open the breaker; the third attempt is rejected and not retried
    assert call() == "CircuitOpenError"
    assert attempts == 2
    assert b.state is State.OPEN
    assert call() == "CircuitOpenError"
    assert attempts == 2


def test_bulkhead_rejection_is_not_a_breaker_failure_and_not_retried() -> None:
    b = breaker()
    guard = Bulkhead(max_concurrent=1)
    inside = threading.Event()
    leave = threading.Event()
    calls = 0

    @Policy(retry(attempts=3), b, guard)
    def call() -> None:
        nonlocal calls
        calls += 1
        inside.set()
        assert leave.wait(5)

    worker = threading.Thread(target=call)
    worker.start()
    assert inside.wait(5)
    with pytest.raises(BulkheadFullError):
        call()
    leave.set()
    worker.join(5)
    assert calls == 1
    assert b.counts["ignored"] == 1
    assert b.snapshot().failures == 0


@pytest.mark.anyio
@pytest.mark.usefixtures("no_waits")
async def test_async_pipeline_all_four_kinds() -> None:
    def policy() -> Policy:
        return Policy(
            timeout(1),
            retry(attempts=2),
            circuit_breaker(name="kinds"),
            bulkhead(max_concurrent=4),
            fallback([0]),
        )

    tries = 0

    @policy()
    async def afn() -> list[int]:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise ConnectionError
        return [1]

    assert await afn() == [1]

    @policy()
    async def agen() -> AsyncIterator[int]:
        yield 1
        yield 2

    assert [item async for item in agen()] == [1, 2]

    @policy()
    def gen() -> Iterator[int]:
        yield 1
        raise ConnectionError

    assert list(gen()) == [1, 0]

    @policy()
    def sync() -> list[int]:
        raise ConnectionError

    assert sync() == [0]


@pytest.mark.anyio
async def test_overall_timeout_bounds_all_attempts() -> None:
    attempts = 0

    @Policy(timeout(0.2, scope="overall"), retry(attempts=100, wait_initial=0.05, jitter=False))
    async def call() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError

    with pytest.raises(CallTimeoutError):
        await call()
    assert 1 < attempts < 100


def test_sync_context_manager_guards_a_block() -> None:
    b = breaker(failure_rate_threshold=100)
    policy = Policy(b, bulkhead(max_concurrent=1))
    for _ in range(2):
        with pytest.raises(ConnectionError), policy:
            raise ConnectionError
    with pytest.raises(CircuitOpenError), policy:
        pass
    with pytest.raises(TypeError, match="retry cannot guard"), Policy(retry()):
        pass
    with pytest.raises(TypeError, match="timeout"), Policy(timeout(1)):
        pass


@pytest.mark.anyio
async def test_async_context_manager_with_timeout() -> None:
    b = breaker()
    policy = Policy(b, timeout(0.05), bulkhead(max_concurrent=1))
    with pytest.raises(CallTimeoutError):
        async with policy:
            await asyncio.sleep(5)
    async with policy:
        pass
    assert b.counts["failure"] == 1
    with pytest.raises(TypeError, match="fallback"):
        async with Policy(fallback(1)):
            pass
