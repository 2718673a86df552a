"""Resilience: circuit breaker, retry, bulkhead, timeout, fallback and their composition.

Each works bare (``@circuit_breaker``, ``@retry``) or configured, on sync, async, generator
and async-generator functions.
"""

from __future__ import annotations

from . import _metrics
from ._api import circuit_breaker
from ._breaker import CircuitBreaker
from ._errors import BulkheadFullError, CallTimeoutError, CircuitOpenError, RejectedError
from ._registry import breakers, get_breaker
from ._settings import configure
from ._state import BreakerEvent, BreakerListener, EventKind, State
from ._window import Snapshot

__all__ = [
    "BreakerEvent",
    "BreakerListener",
    "BulkheadFullError",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "EventKind",
    "RejectedError",
    "Snapshot",
    "State",
    "breakers",
    "circuit_breaker",
    "configure",
    "get_breaker",
]

_metrics.install()
