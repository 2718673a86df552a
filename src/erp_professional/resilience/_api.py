"""``circuit_breaker``: the decorator form of :class:`CircuitBreaker`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, ParamSpec, TypeVar, overload

from ._breaker import CircuitBreaker, ExceptionTypes
from ._core import OpenDuration
from ._state import BreakerListener

__all__ = ["circuit_breaker"]

P = ParamSpec("P")
R = TypeVar("R")


@overload
def circuit_breaker(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def circuit_breaker(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    failure_rate_threshold: float = 50.0,
    slow_call_rate_threshold: float = 100.0,
    slow_call_duration: float = 60.0,
    window: Literal["count", "time"] = "count",
    window_size: int = 100,
    minimum_calls: int = 100,
    consecutive_failures: int | None = None,
    half_open_calls: int = 10,
    open_duration: OpenDuration = 60.0,
    failure_on: ExceptionTypes | None = None,
    failure_if: Callable[[BaseException], bool] | None = None,
    failure_result: Callable[[object], bool] | None = None,
    ignore: ExceptionTypes = (),
    listeners: Iterable[BreakerListener] = (),
    shared_url: str | bool | None = None,
) -> CircuitBreaker: ...
def circuit_breaker(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    failure_rate_threshold: float = 50.0,
    slow_call_rate_threshold: float = 100.0,
    slow_call_duration: float = 60.0,
    window: Literal["count", "time"] = "count",
    window_size: int = 100,
    minimum_calls: int = 100,
    consecutive_failures: int | None = None,
    half_open_calls: int = 10,
    open_duration: OpenDuration = 60.0,
    failure_on: ExceptionTypes | None = None,
    failure_if: Callable[[BaseException], bool] | None = None,
    failure_result: Callable[[object], bool] | None = None,
    ignore: ExceptionTypes = (),
    listeners: Iterable[BreakerListener] = (),
    shared_url: str | bool | None = None,
) -> Callable[P, R] | CircuitBreaker:
    """Guard a function with a circuit breaker: ``@circuit_breaker`` or
    ``@circuit_breaker(failure_rate_threshold=..., ...)``. The configured form returns the
    :class:`CircuitBreaker`, which decorates the function; ``fn.breaker`` reaches it."""
    breaker = CircuitBreaker(
        name,
        failure_rate_threshold=failure_rate_threshold,
        slow_call_rate_threshold=slow_call_rate_threshold,
        slow_call_duration=slow_call_duration,
        window=window,
        window_size=window_size,
        minimum_calls=minimum_calls,
        consecutive_failures=consecutive_failures,
        half_open_calls=half_open_calls,
        open_duration=open_duration,
        failure_on=failure_on,
        failure_if=failure_if,
        failure_result=failure_result,
        ignore=ignore,
        listeners=listeners,
        shared_url=shared_url,
    )
    if fn is not None:
        return breaker(fn)
    return breaker
