"""A state machine over the fixed-window limiter: counts, refusals and remaining quota."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from erp_professional.security import RateLimiter, parse_limits

LIMITS = parse_limits("7/hour;20/day")


class FixedWindow(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.limiter = RateLimiter()
        self.used: dict[tuple[str, int], int] = {}

    @rule(key=st.sampled_from(["a", "b", "c"]), cost=st.integers(1, 4))
    def hit(self, key: str, cost: int) -> None:
        decision = self.limiter.hit(LIMITS, "scope", key, cost=cost)
        allowed = True
        for index, item in enumerate(LIMITS):
            used = self.used.get((key, index), 0) + cost
            self.used[(key, index)] = used
            state = decision.states[index]
            assert state.allowed is (used <= item.amount)
            assert state.remaining == max(0, item.amount - used)
            if not state.allowed:
                allowed = False
                break  # later limits are not counted once one refuses
        assert decision.allowed is allowed
        assert len(decision.states) == index + 1


FixedWindow.TestCase.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
TestFixedWindow = FixedWindow.TestCase
