from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.health import CheckResult, Status
from erp_professional.health._result import from_exception, to_result, worst


def test_conveniences_become_results() -> None:
    assert to_result(None).status is Status.PASS
    assert to_result(True).status is Status.PASS
    false = to_result(False)
    assert false.status is Status.FAIL
    assert false.output == "check returned False"
    assert to_result(Status.WARN).status is Status.WARN
    assert to_result("warn").status is Status.WARN
    result = CheckResult.ok(3, "ms")
    assert to_result(result) is result


def test_unexpected_return_value_is_a_clear_fail() -> None:
    result = to_result(42)
    assert result.status is Status.FAIL
    assert "check returned int" in (result.output or "")


def test_exception_message_becomes_the_output() -> None:
    assert from_exception(ConnectionError("refused")).output == "ConnectionError: refused"
    assert from_exception(TimeoutError()).output == "TimeoutError"


def test_status_must_be_a_status_and_value_finite() -> None:
    with pytest.raises(TypeError):
        CheckResult("pass")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        CheckResult.ok(math.nan, "ms")


def test_non_critical_failure_is_lowered_to_warn() -> None:
    assert CheckResult.fail("down").as_warning().status is Status.WARN
    assert CheckResult.ok().as_warning().status is Status.PASS


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(Status))))
def test_worst_orders_fail_over_warn_over_pass(statuses: list[Status]) -> None:
    result = worst(statuses)
    if Status.FAIL in statuses:
        assert result is Status.FAIL
    elif Status.WARN in statuses:
        assert result is Status.WARN
    else:
        assert result is Status.PASS
    assert result.ok is (result is not Status.FAIL)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(), st.text(), st.floats(allow_nan=False), st.binary()))
def test_any_return_value_gives_a_result_never_an_error(value: object) -> None:
    result = to_result(value)
    assert isinstance(result.status, Status)


def test_objects_with_a_status_are_understood() -> None:
    from dataclasses import dataclass

    @dataclass
    class ComponentHealth:
        status: str
        message: str
        observed_value: float = 12.0
        observed_unit: str = "s"

    result = to_result(ComponentHealth("warn", "queue 'mail': 3 waiting, oldest 12.0 s"))
    assert result.status is Status.WARN
    assert result.output == "queue 'mail': 3 waiting, oldest 12.0 s"
    assert (result.observed_value, result.observed_unit) == (12.0, "s")

    @dataclass
    class Odd:
        status: str

    assert to_result(Odd("broken")).status is Status.FAIL  # not a known status


def test_the_queue_backlog_check_plugs_in() -> None:
    from erp_professional.health import HealthRegistry
    from erp_professional.queue import Queue

    queue = Queue("memory://", "health-test")
    registry = HealthRegistry()
    registry.register("queue:backlog", queue.backlog_check(warn_after=60, fail_after=300))
    result = registry.run().results["queue:backlog"]
    assert result.status is Status.PASS
    assert result.output is not None and "health-test" in result.output


def test_the_projection_runner_plugs_in() -> None:
    from erp_professional.events import EventStore, NewEvent, ProjectionRunner
    from erp_professional.health import HealthRegistry, projection_lag_check

    store = EventStore("memory://")
    runner = ProjectionRunner(store, "totals", lambda events, tx: None, max_lag=2)
    for i in range(3):
        store.append(f"order-{i}", [NewEvent("OrderPlaced", {"n": i})])
    registry = HealthRegistry(cache_ttl=0)
    registry.register("projection:lag", projection_lag_check(runner.lag, warn=1, fail=10))
    registry.register("projection:health", runner.health)
    report = registry.run()
    lag = report.results["projection:lag"]
    assert lag.status is Status.WARN and lag.observed_value == 3
    assert lag.observed_unit == "events"
    assert lag.output == "projection lag 3 events is at or above 1 events"
    assert report.results["projection:health"].status is Status.FAIL  # lag 3 > max_lag 2
    runner.run_once()
    report = registry.run()
    assert report.results["projection:lag"].observed_value == 0
    assert report.results["projection:health"].status is Status.PASS
