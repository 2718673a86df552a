"""Every named breaker, for health checks, the dashboard and the CLI."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from circuitbreaker import CircuitBreakerMonitor

if TYPE_CHECKING:
    from ._breaker import CircuitBreaker

__all__ = ["breakers", "get_breaker"]

_LOCK = threading.Lock()
_BREAKERS: weakref.WeakValueDictionary[str, CircuitBreaker] = weakref.WeakValueDictionary()


def register(breaker: CircuitBreaker, previous_name: str | None = None) -> None:
    """Add (or re-key) a breaker; a later breaker with the same name replaces the earlier."""
    with _LOCK:
        if previous_name is not None and _BREAKERS.get(previous_name) is breaker:
            del _BREAKERS[previous_name]
            monitored = CircuitBreakerMonitor.circuit_breakers
            if monitored.get(previous_name) is breaker:
                del monitored[previous_name]
        _BREAKERS[breaker.name] = breaker
        # circuitbreaker's monitor reads .name, .opened and .closed, which we provide.
        CircuitBreakerMonitor.circuit_breakers[breaker.name] = breaker


def unregister(breaker: CircuitBreaker) -> None:
    with _LOCK:
        if _BREAKERS.get(breaker.name) is breaker:
            del _BREAKERS[breaker.name]
        monitored = CircuitBreakerMonitor.circuit_breakers
        if monitored.get(breaker.name) is breaker:
            del monitored[breaker.name]


def breakers() -> list[CircuitBreaker]:
    """All registered breakers, sorted by name."""
    with _LOCK:
        items = list(_BREAKERS.items())
    return [breaker for _, breaker in sorted(items, key=lambda item: item[0])]


def get_breaker(name: str) -> CircuitBreaker | None:
    """The registered breaker called ``name``, if any."""
    with _LOCK:
        return _BREAKERS.get(name)
