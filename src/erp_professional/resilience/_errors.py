"""Exceptions raised by the resilience policies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from circuitbreaker import CircuitBreakerError

if TYPE_CHECKING:
    from ._state import State

__all__ = ["BulkheadFullError", "CallTimeoutError", "CircuitOpenError", "RejectedError"]


class RejectedError(Exception):
    """A policy refused to run the call; nothing was executed. Retry skips these by default."""


class CircuitOpenError(RejectedError, CircuitBreakerError):  # type: ignore[misc]
    """The circuit breaker did not permit the call (open, forced open, or no half-open permit).

    It is also a ``circuitbreaker.CircuitBreakerError``, so code written against the
    ``circuitbreaker`` package keeps catching it.
    """

    def __init__(self, name: str, state: State, remaining: float) -> None:
        Exception.__init__(self, name, state, remaining)
        self.name = name
        self.state = state
        self.remaining = remaining
        """Seconds until the breaker lets a trial call through (0 when it is half-open)."""

    def __str__(self) -> str:
        return (
            f"circuit {self.name!r} is {self.state.value}: call not permitted "
            f"(retry in {self.remaining:.3f}s)"
        )


class BulkheadFullError(RejectedError):
    """The bulkhead had no free slot and no room (or time) left to wait for one."""

    def __init__(self, name: str, max_concurrent: int, max_waiting: int) -> None:
        super().__init__(name, max_concurrent, max_waiting)
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting

    def __str__(self) -> str:
        return (
            f"bulkhead {self.name!r} is full: {self.max_concurrent} running, "
            f"{self.max_waiting} waiting allowed"
        )


class CallTimeoutError(TimeoutError):
    """The call did not finish within its time limit."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(name, seconds)
        self.name = name
        self.seconds = seconds

    def __str__(self) -> str:
        return f"{self.name!r} did not finish within {self.seconds:g}s"
