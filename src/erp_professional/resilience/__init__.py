"""Resilience: circuit breaker, retry, bulkhead, timeout, fallback and their composition.

Each works on sync, async, generator and async-generator functions, bare
(``@circuit_breaker``, ``@retry``, ``@bulkhead``, ``@timeout``) or configured.
"""

from __future__ import annotations

from . import _metrics
from ._api import circuit_breaker
from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._bulkhead import Bulkhead, bulkhead
from ._errors import BulkheadFullError, CallTimeoutError, CircuitOpenError, RejectedError
from ._fallback import Fallback, fallback
from ._policy import Policy
from ._registry import breakers, get_breaker
from ._retry import Retry, RetryDetails, RetryHook, retry
from ._settings import configure
from ._state import BreakerEvent, BreakerListener, EventKind, State
from ._timeout import Timeout, timeout
from ._window import Snapshot

__all__ = [
    "BreakerEvent",
    "BreakerListener",
    "Bulkhead",
    "BulkheadFullError",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "EventKind",
    "Fallback",
    "Policy",
    "RejectedError",
    "Retry",
    "RetryBudget",
    "RetryDetails",
    "RetryHook",
    "Snapshot",
    "State",
    "Timeout",
    "breakers",
    "bulkhead",
    "circuit_breaker",
    "configure",
    "fallback",
    "get_breaker",
    "retry",
    "timeout",
]

_metrics.install()
