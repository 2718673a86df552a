"""The breaker against a simple model: every call recomputes the window from full history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from erp_professional.resilience import CircuitBreaker, CircuitOpenError, State

from .conftest import FakeClock


class Failed(Exception):
    pass


class Ignored(Exception):
    pass


@dataclass
class Model:
    window: str
    size: int
    minimum: int
    threshold: float
    slow_threshold: float
    slow_duration: float
    consecutive: int | None
    trials_needed: int
    base_open: float
    state: State = State.CLOSED
    history: list[tuple[float, bool, bool]] = field(default_factory=list)
    open_until: float = 0.0
    attempt: int = 0
    permits: int = 0
    trials: list[tuple[bool, bool]] = field(default_factory=list)
    streak: int = 0

    def open_for(self, attempt: int) -> float:
        return self.base_open * attempt

    def visible(self, now: float) -> list[tuple[float, bool, bool]]:
        if self.window == "count":
            return self.history[-self.size :]
        return [item for item in self.history if int(item[0] // 1) > int(now // 1) - self.size]

    def enter(self, state: State) -> None:
        self.state = state
        self.permits = 0
        self.trials = []
        if state is State.CLOSED:
            self.history = []
            self.streak = 0

    def trip(self, now: float) -> None:
        self.attempt += 1
        self.open_until = now + self.open_for(self.attempt)
        self.enter(State.OPEN)

    def admit(self, now: float) -> bool:
        if self.state is State.OPEN and now >= self.open_until:
            self.enter(State.HALF_OPEN)
        if self.state in (State.OPEN, State.FORCED_OPEN):
            return False
        if self.state is State.HALF_OPEN:
            if self.permits >= self.trials_needed:
                return False
            self.permits += 1
        return True

    def finish(self, outcome: str, end: float, duration: float) -> None:
        if outcome == "ignored":
            if self.state is State.HALF_OPEN and self.permits > 0:
                self.permits -= 1
            return
        failure = outcome == "failure"
        slow = duration >= self.slow_duration
        if self.state in (State.CLOSED, State.METRICS_ONLY):
            self.history.append((end, failure, slow))
            self.streak = self.streak + 1 if failure else 0
            if self.state is State.CLOSED and (failure or slow) and self.should_trip(end):
                self.trip(end)
        elif self.state is State.HALF_OPEN:
            self.trials.append((failure, slow))
            if len(self.trials) >= self.trials_needed:
                calls = len(self.trials)
                failures = sum(f for f, _ in self.trials)
                slows = sum(s for _, s in self.trials)
                if (
                    failures * 100 >= self.threshold * calls
                    or slows * 100 >= self.slow_threshold * calls
                ):
                    self.trip(end)
                else:
                    self.attempt = 0
                    self.enter(State.CLOSED)

    def should_trip(self, now: float) -> bool:
        if self.consecutive is not None and self.streak >= self.consecutive:
            return True
        items = self.visible(now)
        minimum = min(self.minimum, self.size) if self.window == "count" else self.minimum
        if len(items) < minimum:
            return False
        failures = sum(f for _, f, _ in items)
        slows = sum(s for _, _, s in items)
        return failures * 100 >= self.threshold * len(
            items
        ) or slows * 100 >= self.slow_threshold * len(items)


configs = st.fixed_dictionaries(
    {
        "window": st.sampled_from(["count", "time"]),
        "size": st.integers(1, 6),
        "minimum": st.integers(1, 8),
        "threshold": st.sampled_from([25.0, 50.0, 100.0]),
        "slow_threshold": st.sampled_from([50.0, 100.0]),
        "consecutive": st.none() | st.integers(1, 4),
        "trials_needed": st.integers(1, 3),
        "base_open": st.sampled_from([0.5, 2.0, 5.0]),
    }
)


class BreakerMachine(RuleBasedStateMachine):
    use_async = False

    def __init__(self) -> None:
        super().__init__()
        self.loop: asyncio.AbstractEventLoop | None = None

    @initialize(config=configs)
    def setup(self, config: dict[str, object]) -> None:
        self.clock = FakeClock()
        self.model = Model(slow_duration=1.0, **config)  # type: ignore[arg-type]
        self.breaker = CircuitBreaker(
            "model",
            window=self.model.window,  # type: ignore[arg-type]
            window_size=self.model.size,
            minimum_calls=self.model.minimum,
            failure_rate_threshold=self.model.threshold,
            slow_call_rate_threshold=self.model.slow_threshold,
            slow_call_duration=1.0,
            consecutive_failures=self.model.consecutive,
            half_open_calls=self.model.trials_needed,
            open_duration=self.model.open_for,
            ignore=Ignored,
            clock=self.clock,
            register=False,
        )
        clock = self.clock

        def body(outcome: str, duration: float) -> str:
            clock.advance(duration)
            if outcome == "failure":
                raise Failed
            if outcome == "ignored":
                raise Ignored
            return "ok"

        async def abody(outcome: str, duration: float) -> str:
            return body(outcome, duration)

        self.sync_call = self.breaker(body)
        self.async_call = self.breaker(abody)
        if self.use_async:
            self.loop = asyncio.new_event_loop()

    def teardown(self) -> None:
        if self.loop is not None:
            self.loop.close()

    def _invoke(self, outcome: str, duration: float) -> str:
        if self.loop is not None:
            return self.loop.run_until_complete(self.async_call(outcome, duration))
        return self.sync_call(outcome, duration)

    @rule(
        outcome=st.sampled_from(["success", "failure", "ignored"]),
        duration=st.sampled_from([0.0, 0.125, 0.5, 1.0, 1.5]),
    )
    def call(self, outcome: str, duration: float) -> None:
        start = self.clock.now
        admitted = self.model.admit(start)
        try:
            self._invoke(outcome, duration)
        except CircuitOpenError:
            assert not admitted, "rejected a call the model admits"
            return
        except (Failed, Ignored):
            pass
        assert admitted, "admitted a call the model rejects"
        self.model.finish(outcome, self.clock.now, self.clock.now - start)

    @rule(seconds=st.sampled_from([0.125, 0.5, 1.0, 2.0, 5.0, 30.0]))
    def jump(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(
        action=st.sampled_from(["reset", "open", "close", "force_open", "disable", "metrics_only"])
    )
    def manual(self, action: str) -> None:
        getattr(self.breaker, action)()
        model = self.model
        now = self.clock.now
        if action == "open":
            model.attempt += 1
            model.open_until = now + model.open_for(model.attempt)
            model.enter(State.OPEN)
        elif action in ("reset", "close"):
            model.attempt = 0
            model.enter(State.CLOSED)
        else:
            model.enter(
                {
                    "force_open": State.FORCED_OPEN,
                    "disable": State.DISABLED,
                    "metrics_only": State.METRICS_ONLY,
                }[action]
            )

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "model"):
            return
        assert self.breaker.state is self.model.state
        if self.model.state in (State.CLOSED, State.METRICS_ONLY):
            items = self.model.visible(self.clock.now)
            snap = self.breaker.snapshot()
            assert (snap.calls, snap.failures, snap.slow) == (
                len(items),
                sum(f for _, f, _ in items),
                sum(s for _, _, s in items),
            )


class AsyncBreakerMachine(BreakerMachine):
    use_async = True


TestBreakerModelSync = BreakerMachine.TestCase
TestBreakerModelSync.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestBreakerModelAsync = AsyncBreakerMachine.TestCase
TestBreakerModelAsync.settings = settings(max_examples=75, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize("window", ["count", "time"])
def test_model_smoke(window: str) -> None:
    """A fixed scenario through the same model, readable when the machine fails."""
    clock = FakeClock()
    breaker = CircuitBreaker(
        "smoke",
        window=window,
        window_size=3,
        minimum_calls=2,  # type: ignore[arg-type]
        half_open_calls=1,
        open_duration=1.0,
        clock=clock,
        register=False,
    )
    with pytest.raises(Failed), breaker:
        raise Failed
    with breaker:
        pass
    assert breaker.state is State.CLOSED
    with pytest.raises(Failed), breaker:
        raise Failed
    assert breaker.state is State.OPEN
