from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.resilience._window import CountWindow, TimeWindow

flags = st.integers(0, 3)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 8), ops=st.lists(st.one_of(flags, st.integers(1, 20).map(lambda n: -n))))
def test_bulk_successes_equal_one_by_one(size: int, ops: list[int]) -> None:
    """record_successes(n) (used for queued successes) == n single records of a success."""
    bulk, single = CountWindow(size), CountWindow(size)
    history: list[int] = []
    for op in ops:
        if op >= 0:
            bulk.record(op, 0.0)
            single.record(op, 0.0)
            history.append(op)
        else:
            bulk.record_successes(-op)
            for _ in range(-op):
                single.record(0, 0.0)
            history.extend([0] * -op)
        last = history[-size:]
        expected = (len(last), sum(f & 1 for f in last), sum(f >> 1 for f in last))
        for window in (bulk, single):
            snap = window.snapshot(0.0)
            assert (snap.calls, snap.failures, snap.slow) == expected


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 6),
    ops=st.lists(st.tuples(flags, st.sampled_from([0.0, 0.3, 1.0, 2.5, 7.0]))),
)
def test_time_window_matches_last_seconds(size: int, ops: list[tuple[int, float]]) -> None:
    window = TimeWindow(size)
    now = 100.0
    history: list[tuple[float, int]] = []
    for flag, step in ops:
        now += step
        window.record(flag, now)
        history.append((now, flag))
        live = [f for t, f in history if int(t) > int(now) - size]
        snap = window.snapshot(now)
        assert (snap.calls, snap.failures, snap.slow) == (
            len(live),
            sum(f & 1 for f in live),
            sum(f >> 1 for f in live),
        )


def test_rates_and_bad_sizes() -> None:
    window = CountWindow(4)
    assert window.snapshot(0).failure_rate == 0.0
    window.record(1, 0)
    window.record(2, 0)
    snap = window.snapshot(0)
    assert (snap.failure_rate, snap.slow_rate) == (50.0, 50.0)
    with pytest.raises(ValueError, match="at least 1"):
        CountWindow(0)
    with pytest.raises(ValueError, match="at least 1"):
        TimeWindow(0)
