"""OpenTelemetry instruments. Counts are read from the components when metrics are collected,
so the guarded calls pay nothing for them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import ClassVar

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from . import _registry
from ._state import STATE_CODES

__all__ = ["Counter", "install"]

_installed = False
_lock = threading.Lock()


class Counter:
    """Named, labelled, thread-safe counts exported as one OTel observable counter."""

    _all: ClassVar[list[Counter]] = []

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description
        self._lock = threading.Lock()
        self._values: dict[tuple[tuple[str, str], ...], int] = {}
        Counter._all.append(self)

    def add(self, amount: int = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: str) -> int:
        with self._lock:
            return self._values.get(tuple(sorted(labels.items())), 0)

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self._values.items())
        return [Observation(value, dict(key)) for key, value in items]


RETRY_ATTEMPTS = Counter("erp_professional.resilience.retry.attempts", "Retry attempts by outcome")
BULKHEAD_REJECTED = Counter(
    "erp_professional.resilience.bulkhead.rejected", "Calls rejected by a full bulkhead"
)
TIMEOUTS = Counter("erp_professional.resilience.timeouts", "Calls that exceeded their timeout")
SHARED_ERRORS = Counter(
    "erp_professional.resilience.breaker.shared_errors",
    "Shared breaker store failures (the breaker fell back to local state)",
)


def _breaker_calls(options: CallbackOptions) -> Iterable[Observation]:
    out = []
    for breaker in _registry.breakers():
        for outcome, value in list(breaker.counts.items()):
            out.append(Observation(value, {"breaker": breaker.name, "outcome": outcome}))
    return out


def _breaker_state(options: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(STATE_CODES[breaker.state], {"breaker": breaker.name})
        for breaker in _registry.breakers()
    ]


def install() -> None:
    """Create the instruments on the global meter, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    create_instruments(metrics.get_meter("erp_professional.resilience"))


def create_instruments(meter: metrics.Meter) -> None:
    """Create the observable instruments on ``meter``."""
    meter.create_observable_counter(
        "erp_professional.resilience.breaker.calls",
        callbacks=[_breaker_calls],
        description="Calls through circuit breakers by outcome",
    )
    meter.create_observable_gauge(
        "erp_professional.resilience.breaker.state",
        callbacks=[_breaker_state],
        description="Breaker state: 0 closed, 1 open, 2 half-open, 3 disabled, "
        "4 forced open, 5 metrics only",
    )
    for counter in Counter._all:
        meter.create_observable_counter(
            counter.name, callbacks=[counter.observe], description=counter.description
        )
