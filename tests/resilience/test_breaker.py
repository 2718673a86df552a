from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import circuitbreaker
import pytest

from erp_professional.resilience import (
    BreakerEvent,
    CircuitBreaker,
    CircuitOpenError,
    EventKind,
    State,
    breakers,
    circuit_breaker,
    get_breaker,
)

from .conftest import FakeClock


class Boom(Exception):
    pass


def make(clock: FakeClock, **options: object) -> CircuitBreaker:
    defaults: dict[str, object] = {
        "window_size": 4,
        "minimum_calls": 4,
        "open_duration": 10.0,
        "half_open_calls": 2,
        "register": False,
    }
    defaults.update(options)
    return CircuitBreaker("test", clock=clock, **defaults)  # type: ignore[arg-type]


def fail(breaker: CircuitBreaker, exc: BaseException | None = None) -> None:
    with pytest.raises(type(exc) if exc else Boom), breaker:
        raise exc if exc else Boom()


def succeed(breaker: CircuitBreaker) -> None:
    with breaker:
        pass


def test_defaults_follow_resilience4j() -> None:
    breaker = CircuitBreaker(register=False)
    assert breaker.failure_rate_threshold == 50.0
    assert breaker.window_size == 100
    assert breaker.minimum_calls == 100
    assert breaker.half_open_calls == 10
    assert breaker.open_duration_for(1) == 60.0
    assert breaker.state is State.CLOSED


def test_bare_decorator_trips_after_100_calls_at_50_percent() -> None:
    @circuit_breaker
    def call(ok: bool) -> str:
        if not ok:
            raise Boom
        return "ok"

    for i in range(99):
        if i % 2:
            with pytest.raises(Boom):
                call(False)
        else:
            assert call(True) == "ok"
    assert call.breaker.state is State.CLOSED  # type: ignore[attr-defined]
    with pytest.raises(Boom):
        call(False)  # 100th call: 50 failures of 100 -> trips
    assert call.breaker.state is State.OPEN  # type: ignore[attr-defined]
    with pytest.raises(CircuitOpenError):
        call(True)
    assert call.breaker.name.endswith(
        "test_bare_decorator_trips_after_100_calls_at_50_percent.<locals>.call"
    )  # type: ignore[attr-defined]


def test_minimum_calls_before_rates_count(clock: FakeClock) -> None:
    breaker = make(clock, window_size=10, minimum_calls=5)
    for _ in range(4):
        fail(breaker)
    assert breaker.state is State.CLOSED
    fail(breaker)
    assert breaker.state is State.OPEN


def test_failure_rate_below_threshold_stays_closed(clock: FakeClock) -> None:
    breaker = make(clock, window_size=4, minimum_calls=4, failure_rate_threshold=75)
    for _ in range(3):
        succeed(breaker)
        fail(breaker)
    assert breaker.snapshot().failure_rate == 50.0
    assert breaker.state is State.CLOSED


def test_slow_calls_trip(clock: FakeClock) -> None:
    breaker = make(clock, slow_call_duration=1.0, slow_call_rate_threshold=50)

    @breaker
    def slow() -> None:
        clock.advance(2.0)

    succeed(breaker)
    slow()
    succeed(breaker)
    assert breaker.state is State.CLOSED
    slow()  # the 4th call: 2 of 4 slow
    assert breaker.state is State.OPEN
    assert breaker.snapshot().slow == 2


def test_consecutive_failure_mode(clock: FakeClock) -> None:
    breaker = make(clock, window_size=100, minimum_calls=100, consecutive_failures=3)
    fail(breaker)
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    fail(breaker)
    assert breaker.state is State.CLOSED
    fail(breaker)
    assert breaker.state is State.OPEN


def test_open_rejects_then_half_open_admits_limited_trials(clock: FakeClock) -> None:
    breaker = make(clock)
    for _ in range(4):
        fail(breaker)
    assert breaker.state is State.OPEN
    with pytest.raises(CircuitOpenError) as info:
        succeed(breaker)
    assert info.value.remaining == pytest.approx(10.0)
    assert isinstance(info.value, circuitbreaker.CircuitBreakerError)
    clock.advance(10.0)
    first = breaker.acquire()
    second = breaker.acquire()
    assert breaker.state is State.HALF_OPEN
    with pytest.raises(CircuitOpenError):  # a third caller is rejected at once, not queued
        breaker.acquire()
    assert breaker.try_acquire() is None
    breaker.record_success(first)
    assert breaker.state is State.HALF_OPEN
    breaker.record_success(second)
    assert breaker.state is State.CLOSED
    assert breaker.snapshot().calls == 0


def test_failed_trials_reopen_with_backoff_durations(clock: FakeClock) -> None:
    breaker = make(clock, open_duration=lambda attempt: 5.0 * 2 ** (attempt - 1))
    for _ in range(4):
        fail(breaker)
    assert breaker.remaining == 5.0
    clock.advance(5.0)
    fail(breaker)
    fail(breaker)
    assert breaker.state is State.OPEN
    assert breaker.attempt == 2
    assert breaker.remaining == 10.0
    clock.advance(10.0)
    succeed(breaker)
    succeed(breaker)
    assert breaker.state is State.CLOSED
    assert breaker.attempt == 0


def test_ignored_half_open_call_returns_its_permit(clock: FakeClock) -> None:
    breaker = make(clock, ignore=KeyError)
    breaker.open()
    clock.advance(10.0)
    fail(breaker, KeyError("x"))
    fail(breaker, KeyError("y"))
    assert breaker.state is State.HALF_OPEN
    succeed(breaker)
    succeed(breaker)
    assert breaker.state is State.CLOSED


def test_classification(clock: FakeClock) -> None:
    breaker = make(
        clock,
        failure_on=(ConnectionError,),
        failure_if=lambda exc: "503" in str(exc),
        ignore=(LookupError,),
        window_size=100,
        minimum_calls=100,
    )
    fail(breaker, ConnectionError())
    fail(breaker, RuntimeError("upstream said 503"))
    fail(breaker, RuntimeError("bad input"))  # not a failure: counts as success
    fail(breaker, KeyError("ignored"))
    snap = breaker.snapshot()
    assert (snap.calls, snap.failures) == (3, 2)
    assert breaker.counts["ignored"] == 1


def test_result_predicate_counts_failures(clock: FakeClock) -> None:
    breaker = make(clock, failure_result=lambda result: result == 500)

    @breaker
    def status(code: int) -> int:
        return code

    for _ in range(4):
        assert status(500) == 500
    assert breaker.state is State.OPEN


def test_special_states(clock: FakeClock) -> None:
    breaker = make(clock)
    breaker.force_open()
    with pytest.raises(CircuitOpenError) as info:
        succeed(breaker)
    assert info.value.state is State.FORCED_OPEN
    clock.advance(1000)
    with pytest.raises(CircuitOpenError):
        succeed(breaker)

    breaker.disable()
    for _ in range(10):
        fail(breaker)
    assert breaker.state is State.DISABLED
    assert breaker.snapshot().calls == 0

    breaker.metrics_only()
    for _ in range(10):
        fail(breaker)
    assert breaker.state is State.METRICS_ONLY
    assert breaker.snapshot().failures == 4

    breaker.reset()
    assert breaker.state is State.CLOSED
    assert breaker.snapshot().calls == 0
    breaker.open()
    assert breaker.state is State.OPEN
    breaker.close()
    succeed(breaker)


def test_listeners_get_events_and_their_errors_do_not_break_the_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[BreakerEvent] = []

    def broken(event: BreakerEvent) -> None:
        raise RuntimeError("listener bug")

    breaker = make(clock, listeners=[broken, seen.append])
    succeed(breaker)
    for _ in range(3):
        fail(breaker)
    with pytest.raises(CircuitOpenError):
        succeed(breaker)
    kinds = [event.kind for event in seen]
    assert kinds == [
        EventKind.SUCCESS,
        EventKind.FAILURE,
        EventKind.FAILURE,
        EventKind.FAILURE,
        EventKind.STATE_CHANGE,
        EventKind.NOT_PERMITTED,
    ]
    change = seen[4]
    assert (change.previous, change.state) == (State.CLOSED, State.OPEN)
    assert isinstance(seen[1].exception, Boom)
    assert "listener bug" in caplog.text


def test_registry_and_circuitbreaker_monitor() -> None:
    breaker = CircuitBreaker("payments-registry-test")
    assert get_breaker("payments-registry-test") is breaker
    assert breaker in breakers()
    assert circuitbreaker.CircuitBreakerMonitor.get("payments-registry-test") is breaker
    breaker.force_open()
    assert breaker in list(circuitbreaker.CircuitBreakerMonitor.get_open())
    breaker.reset()
    assert breaker in list(circuitbreaker.CircuitBreakerMonitor.get_closed())


def test_invalid_configuration_is_rejected() -> None:
    for options in (
        {"failure_rate_threshold": 0},
        {"failure_rate_threshold": 101},
        {"slow_call_rate_threshold": -1},
        {"slow_call_duration": 0},
        {"window": "sliding"},
        {"window_size": 0},
        {"minimum_calls": 0},
        {"consecutive_failures": 0},
        {"half_open_calls": 0},
        {"open_duration": -1},
    ):
        with pytest.raises(ValueError):
            CircuitBreaker(register=False, **options)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CircuitBreaker(register=False, failure_on=("not a type",))  # type: ignore[arg-type]


def test_generator_function(clock: FakeClock) -> None:
    breaker = make(clock, window_size=2, minimum_calls=2, failure_rate_threshold=100)

    @breaker
    def gen(fail_at: int) -> Iterator[int]:
        for i in range(3):
            if i == fail_at:
                raise Boom
            yield i

    assert list(gen(99)) == [0, 1, 2]
    with pytest.raises(Boom):
        list(gen(1))
    with pytest.raises(Boom):
        list(gen(0))
    assert breaker.state is State.OPEN
    with pytest.raises(CircuitOpenError):
        list(gen(99))


@pytest.mark.anyio
async def test_async_function_and_async_generator(clock: FakeClock) -> None:
    breaker = make(clock, window_size=2, minimum_calls=2, failure_rate_threshold=100)

    @breaker
    async def fetch(ok: bool) -> str:
        if not ok:
            raise Boom
        return "ok"

    @breaker
    async def stream(ok: bool) -> AsyncIterator[int]:
        yield 1
        if not ok:
            raise Boom
        yield 2

    assert await fetch(True) == "ok"
    assert [item async for item in stream(True)] == [1, 2]
    with pytest.raises(Boom):
        await fetch(False)
    with pytest.raises(Boom):
        _ = [item async for item in stream(False)]
    assert breaker.state is State.OPEN
    with pytest.raises(CircuitOpenError):
        await fetch(True)
    with pytest.raises(CircuitOpenError):
        _ = [item async for item in stream(True)]


@pytest.mark.anyio
async def test_async_context_manager(clock: FakeClock) -> None:
    breaker = make(clock, window_size=1, minimum_calls=1)
    async with breaker:
        pass
    with pytest.raises(Boom):
        async with breaker:
            raise Boom
    with pytest.raises(CircuitOpenError):
        async with breaker:
            pass


def test_no_lock_is_held_across_the_call() -> None:
    breaker = CircuitBreaker("no-lock", register=False, half_open_calls=2)
    inside = threading.Event()
    release = threading.Event()

    @breaker
    def slow() -> None:
        inside.set()
        assert release.wait(5)

    @breaker
    def quick() -> str:
        return "done"

    worker = threading.Thread(target=slow)
    worker.start()
    assert inside.wait(5)
    assert quick() == "done"  # would deadlock if slow() held the breaker's lock
    breaker.open()
    breaker.half_open()
    assert quick() == "done"
    release.set()
    worker.join(5)
    assert breaker.counts["success"] == 3


def test_threads_count_exactly(clock: FakeClock) -> None:
    breaker = CircuitBreaker("threads", register=False, window_size=1000, minimum_calls=1000)

    @breaker
    def work() -> None:
        return None

    def run() -> None:
        for _ in range(2000):
            work()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.counts["success"] == 8000
    assert breaker.snapshot().calls == 1000


def test_circuitbreaker_package_protocol(clock: FakeClock) -> None:
    import datetime

    breaker = make(clock)

    def answer() -> int:
        return 42

    assert breaker.decorate(answer)() == 42
    assert breaker.call(answer) == 42
    breaker.open()
    assert breaker.open_remaining == 10.0
    until = breaker.open_until
    assert until.tzinfo is not None
    now = datetime.datetime.now(datetime.UTC)
    assert now + datetime.timedelta(seconds=9) < until <= now + datetime.timedelta(seconds=11)
    assert breaker.opened and not breaker.closed
