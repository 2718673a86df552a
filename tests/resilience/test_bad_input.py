"""Every configuration is accepted exactly when it is valid; otherwise a ValueError says why."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.resilience import Bulkhead, CircuitBreaker, Retry, Timeout

numbers = st.one_of(
    st.integers(-5, 500),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=500),
)


@settings(max_examples=150, deadline=None)
@given(
    threshold=numbers,
    slow=numbers,
    size=st.integers(-2, 50),
    minimum=st.integers(-2, 50),
    trials=st.integers(-2, 5),
    open_for=numbers,
)
def test_breaker_configuration(
    threshold: float, slow: float, size: int, minimum: int, trials: int, open_for: float
) -> None:
    valid = (
        0 < threshold <= 100
        and 0 < slow <= 100
        and size >= 1
        and minimum >= 1
        and trials >= 1
        and open_for >= 0
    )

    def build() -> CircuitBreaker:
        return CircuitBreaker(
            failure_rate_threshold=threshold,
            slow_call_rate_threshold=slow,
            window_size=size,
            minimum_calls=minimum,
            half_open_calls=trials,
            open_duration=open_for,
            register=False,
        )

    if not valid:
        with pytest.raises(ValueError, match="must"):
            build()
        return
    breaker = build()
    with breaker:
        pass
    assert breaker.snapshot().calls == 1


@settings(max_examples=150, deadline=None)
@given(attempts=st.integers(-2, 10), initial=numbers, most=numbers, multiplier=numbers)
def test_retry_configuration(attempts: int, initial: float, most: float, multiplier: float) -> None:
    valid = attempts >= 1 and initial >= 0 and most >= 0 and multiplier >= 1
    if not valid:
        with pytest.raises(ValueError, match="must"):
            Retry(
                attempts=attempts, wait_initial=initial, wait_max=most, wait_multiplier=multiplier
            )
        return
    policy = Retry(
        attempts=attempts, wait_initial=initial, wait_max=most, wait_multiplier=multiplier
    )
    for attempt in range(1, 5):
        assert 0 <= policy.backoff(attempt) <= most


@settings(max_examples=100, deadline=None)
@given(concurrent=st.integers(-2, 5), waiting=st.integers(-2, 5), wait=numbers, seconds=numbers)
def test_bulkhead_and_timeout_configuration(
    concurrent: int, waiting: int, wait: float, seconds: float
) -> None:
    if concurrent >= 1 and waiting >= 0 and wait >= 0:
        guard = Bulkhead(concurrent, waiting, wait)
        assert guard.try_acquire()
        guard.release()
        assert guard.active == 0
    else:
        with pytest.raises(ValueError, match="must"):
            Bulkhead(concurrent, waiting, wait)
    if seconds > 0:
        assert Timeout(seconds).seconds == seconds
    else:
        with pytest.raises(ValueError, match="positive"):
            Timeout(seconds)
