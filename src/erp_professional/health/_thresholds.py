"""Generic threshold checks (queue backlog, projection lag) and the circuit-breaker check."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from ._result import CheckResult
from ._system import check_thresholds, grade

__all__ = [
    "BreakerLike",
    "BreakersCheck",
    "ThresholdCheck",
    "projection_lag_check",
    "queue_backlog_check",
]

NumberSource = Callable[[], float | int | None] | Callable[[], Awaitable[float | int | None]]


class ThresholdCheck:
    """pass/warn/fail by comparing the number ``source()`` returns with thresholds.

    ``source`` may be sync or async; ``None`` from it means nothing to measure (pass).
    """

    component_type = "component"

    def __init__(
        self,
        source: NumberSource,
        *,
        warn: float | None = None,
        fail: float | None = None,
        unit: str = "",
        what: str = "value",
    ) -> None:
        if not callable(source):
            raise TypeError(f"source must be callable, got {source!r}")
        check_thresholds(warn, fail, higher_is_worse=True)
        self.source = source
        self.warn = warn
        self.fail = fail
        self.unit = unit
        self.what = what

    async def __call__(self) -> CheckResult:
        value = self.source()
        if inspect.isawaitable(value):
            value = await value
        if value is None:
            return CheckResult.ok(None, self.unit, f"no {self.what} to measure")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{self.what} source returned {value!r}, expected a number")
        return grade(float(value), self.unit, warn=self.warn, fail=self.fail, what=self.what)


def queue_backlog_check(
    oldest_age: NumberSource, *, warn: float | None = 60.0, fail: float | None = 300.0
) -> ThresholdCheck:
    """Age in seconds of the oldest waiting job, against warn/fail thresholds."""
    return ThresholdCheck(oldest_age, warn=warn, fail=fail, unit="s", what="oldest waiting job age")


def projection_lag_check(
    lag: NumberSource,
    *,
    warn: float | None = 1000.0,
    fail: float | None = None,
    unit: str = "events",
) -> ThresholdCheck:
    """How far an event projection trails the store (events behind, or seconds with
    ``unit="s"``), against warn/fail thresholds."""
    return ThresholdCheck(lag, warn=warn, fail=fail, unit=unit, what="projection lag")


class BreakerLike(Protocol):
    """Anything with a ``name`` and a ``state`` (an enum whose value, or a string, says
    ``open``, ``closed``, ``half_open``...)."""

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> object: ...


_OPEN = frozenset({"open", "forced_open"})


class BreakersCheck:
    """Warn while any circuit breaker is open (observed value: how many are open).

    ``source`` is an iterable of breakers or a callable returning one; by default the
    breakers registered by :mod:`erp_professional.resilience`.
    """

    component_type = "component"

    def __init__(
        self, source: Iterable[BreakerLike] | Callable[[], Iterable[BreakerLike]] | None = None
    ) -> None:
        self.source = source

    def _breakers(self) -> list[BreakerLike]:
        source = self.source
        if source is None:
            from ..resilience import breakers

            return list(breakers())
        if callable(source):
            return list(source())
        return list(source)

    def __call__(self) -> CheckResult:
        opened = []
        for breaker in self._breakers():
            state = breaker.state
            value = getattr(state, "value", state)
            if str(value).lower() in _OPEN:
                opened.append(breaker.name)
        if opened:
            names = ", ".join(sorted(opened))
            return CheckResult.warn(f"open circuit breakers: {names}", len(opened), "open")
        return CheckResult.ok(0, "open")
