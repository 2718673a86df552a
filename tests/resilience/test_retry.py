from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from erp_professional import testing
from erp_professional.resilience import (
    BulkheadFullError,
    CircuitOpenError,
    Retry,
    RetryBudget,
    RetryDetails,
    State,
    retry,
)

from .conftest import FakeClock


class Flaky:
    """Fails ``failures`` times, then answers."""

    def __init__(self, failures: int, exc: type[BaseException] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    def step(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return "ok"


@pytest.mark.usefixtures("no_waits")
def test_bare_retry_sync() -> None:
    flaky = Flaky(2)

    @retry
    def call() -> str:
        return flaky.step()

    assert call() == "ok"
    assert flaky.calls == 3
    assert call.__name__ == "call"


@pytest.mark.usefixtures("no_waits")
def test_gives_up_after_attempts_with_the_last_error() -> None:
    flaky = Flaky(10)

    @retry(attempts=4)
    def call() -> str:
        return flaky.step()

    with pytest.raises(ConnectionError, match="failure 4"):
        call()
    assert flaky.calls == 4


@pytest.mark.anyio
@pytest.mark.usefixtures("no_waits")
async def test_async_and_async_generator() -> None:
    flaky = Flaky(2)

    @retry
    async def call() -> str:
        return flaky.step()

    assert await call() == "ok"

    starts = Flaky(1)

    @retry
    async def stream() -> AsyncIterator[str]:
        yield starts.step()
        yield "more"

    assert [item async for item in stream()] == ["ok", "more"]
    assert starts.calls == 2


@pytest.mark.usefixtures("no_waits")
def test_generator_is_retried_only_before_its_first_item() -> None:
    starts = Flaky(1)

    @retry
    def before() -> Iterator[str]:
        yield starts.step()

    assert list(before()) == ["ok"]

    runs = 0

    @retry
    def after() -> Iterator[int]:
        nonlocal runs
        runs += 1
        yield 1
        raise ConnectionError("mid-stream")

    iterator = after()
    assert next(iterator) == 1
    with pytest.raises(ConnectionError):
        next(iterator)
    assert runs == 1


@pytest.mark.usefixtures("no_waits")
def test_classification_by_type_predicate_and_result() -> None:
    flaky = Flaky(1, ValueError)

    @retry(on=ConnectionError)
    def typed() -> str:
        return flaky.step()

    with pytest.raises(ValueError):
        typed()
    assert flaky.calls == 1

    flaky = Flaky(1, RuntimeError)

    @retry(if_exception=lambda exc: "failure" in str(exc))
    def predicate() -> str:
        return flaky.step()

    assert predicate() == "ok"

    results = iter([None, None, "value"])

    @retry(if_result=lambda result: result is None)
    def polled() -> str | None:
        return next(results)

    assert polled() == "value"

    @retry(attempts=2, if_result=lambda result: result is None)
    def never() -> None:
        return None

    assert never() is None  # the last result is returned once attempts run out


@pytest.mark.usefixtures("no_waits")
def test_rejections_are_not_retried_unless_asked() -> None:
    for error in (
        CircuitOpenError("b", State.OPEN, 1.0),
        BulkheadFullError("h", 1, 0),
    ):
        calls = 0

        def call(error: Exception = error) -> None:
            nonlocal calls
            calls += 1
            raise error

        with pytest.raises(type(error)):
            retry(call)()
        assert calls == 1
        calls = 0
        with pytest.raises(type(error)):
            retry(retry_rejections=True, attempts=3)(call)()
        assert calls == 3


def test_full_jitter_backoff_and_waits() -> None:
    waits: list[float] = []
    policy = Retry(attempts=6, wait_initial=1.0, wait_max=8.0, sleep=waits.append, seed=7)
    flaky = Flaky(5)
    assert policy(flaky.step)() == "ok"
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(waits) == 5
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    again: list[float] = []
    Retry(attempts=6, wait_initial=1.0, wait_max=8.0, sleep=again.append, seed=7)(Flaky(5).step)()
    assert again == waits  # seeded: reproducible
    exact: list[float] = []
    Retry(attempts=6, wait_initial=1.0, wait_max=8.0, sleep=exact.append, jitter=False)(
        Flaky(5).step
    )()
    assert exact == ceilings


def test_test_mode_skips_waits() -> None:
    waits: list[float] = []
    with testing.set_testing(True):
        assert Retry(attempts=3, sleep=waits.append)(Flaky(2).step)() == "ok"
    assert waits == []


class TooManyRequests(Exception):
    def __init__(self, retry_after: object) -> None:
        super().__init__("429")
        self.retry_after = retry_after


def test_retry_after_is_honoured() -> None:
    waits: list[float] = []
    for value in (3, 2.5, timedelta(seconds=4), "1.5"):
        errors = iter([TooManyRequests(value)])

        def call(errors: Iterator[TooManyRequests] = errors) -> str:
            for error in errors:
                raise error
            return "ok"

        assert Retry(sleep=waits.append, wait_max=0.01)(call)() == "ok"
    assert waits == [3.0, 2.5, 4.0, 1.5]


def test_deadline_stops_retrying(clock: FakeClock) -> None:
    def sleep(seconds: float) -> None:
        clock.advance(seconds)

    flaky = Flaky(100)
    policy = Retry(
        attempts=100,
        deadline=5.0,
        wait_initial=1.0,
        jitter=False,
        clock=clock,
        sleep=sleep,
        budget=False,
    )
    with pytest.raises(ConnectionError):
        policy(flaky.step)()
    # waits 1, 2 (elapsed 3); the next wait of 4 would pass the 5 s deadline
    assert flaky.calls == 3


def test_budget_limits_retries(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0, window=10, clock=clock)
    policy = retry(attempts=2, budget=budget)
    calls = 0

    @policy
    def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError

    with testing.set_testing(True):
        for _ in range(10):
            with pytest.raises(ConnectionError):
                failing()
    # 10 calls may spend 5 retries: 10 first attempts + 5 retries
    assert calls == 15
    assert budget.totals() == (10, 5)
    clock.advance(11)
    assert budget.totals() == (0, 0)


def test_hooks_see_each_retry_and_cannot_break_it(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[RetryDetails] = []

    def broken(details: RetryDetails) -> None:
        raise RuntimeError("hook bug")

    with testing.set_testing(True):
        result = retry(attempts=3, hooks=[broken, seen.append], name="pay")(Flaky(2).step)()
    assert result == "ok"
    assert [d.attempt for d in seen] == [1, 2]
    assert all(d.name == "pay" and isinstance(d.exception, ConnectionError) for d in seen)
    assert "hook bug" in caplog.text


def test_invalid_configuration() -> None:
    for options in (
        {"attempts": 0},
        {"deadline": 0},
        {"wait_initial": -1},
        {"wait_multiplier": 0.5},
    ):
        with pytest.raises(ValueError):
            Retry(**options)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Retry(on=("x",))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RetryBudget(ratio=-1)
