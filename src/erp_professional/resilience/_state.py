"""Breaker states, events and the listener protocol."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

__all__ = ["BreakerEvent", "BreakerListener", "EventKind", "State"]


class State(enum.Enum):
    """States of a circuit breaker (resilience4j's set)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    DISABLED = "disabled"
    """Every call is permitted and nothing is recorded."""
    FORCED_OPEN = "forced_open"
    """Every call is rejected until the state is changed by hand."""
    METRICS_ONLY = "metrics_only"
    """Every call is permitted and recorded; the breaker never trips."""


STATE_CODES: dict[State, int] = {
    State.CLOSED: 0,
    State.OPEN: 1,
    State.HALF_OPEN: 2,
    State.DISABLED: 3,
    State.FORCED_OPEN: 4,
    State.METRICS_ONLY: 5,
}


class EventKind(enum.Enum):
    STATE_CHANGE = "state_change"
    NOT_PERMITTED = "not_permitted"
    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """What happened in a breaker; passed to every listener."""

    kind: EventKind
    breaker: str
    state: State
    """The state after the event."""
    previous: State | None = None
    """For ``STATE_CHANGE``: the state before."""
    duration: float | None = None
    """For outcomes: seconds the call took."""
    slow: bool = False
    exception: BaseException | None = None


class BreakerListener(Protocol):
    """Receives breaker events. Exceptions raised here are logged and never reach the call."""

    def __call__(self, event: BreakerEvent, /) -> None: ...
