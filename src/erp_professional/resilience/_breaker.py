"""``CircuitBreaker``: options, introspection, manual control, context managers, decorator.

The decisions themselves live in :mod:`._core`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

from . import _registry
from ._core import BreakerCore, OpenDuration
from ._settings import settings
from ._state import BreakerEvent, BreakerListener, State
from ._window import CountWindow, Snapshot, TimeWindow

if TYPE_CHECKING:
    from ._shared import SharedState

__all__ = ["CircuitBreaker"]

P = ParamSpec("P")
R = TypeVar("R")


_CLOSED = State.CLOSED
_OPEN = State.OPEN
_HALF_OPEN = State.HALF_OPEN
_NOT_PERMITTING = (State.OPEN, State.FORCED_OPEN)
_AUTO_NAMES = itertools.count(1)

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class CircuitBreaker(BreakerCore):
    """A circuit breaker with sliding-window failure and slow-call rates.

    Defaults follow resilience4j: trip at a 50% failure rate over the last 100 calls once
    100 calls are recorded, stay open 60 s, then let 10 trial calls through. The rates are
    checked when a failed or slow call is recorded (a success never opens the circuit).

    ``shared_url``: a Redis URL to share the state between processes; ``None`` (default)
    uses ``ResilienceConfig.breaker_store_url`` if set; ``False`` keeps the state local.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
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
        clock: Callable[[], float] = time.monotonic,
        shared_url: str | bool | None = None,
        register: bool = True,
    ) -> None:
        if not 0 < failure_rate_threshold <= 100:
            raise ValueError(
                f"failure_rate_threshold must be in (0, 100], got {failure_rate_threshold}"
            )
        if not 0 < slow_call_rate_threshold <= 100:
            raise ValueError(
                f"slow_call_rate_threshold must be in (0, 100], got {slow_call_rate_threshold}"
            )
        if slow_call_duration <= 0:
            raise ValueError(f"slow_call_duration must be positive, got {slow_call_duration}")
        if window not in ("count", "time"):
            raise ValueError(f"window must be 'count' or 'time', got {window!r}")
        if minimum_calls < 1:
            raise ValueError(f"minimum_calls must be at least 1, got {minimum_calls}")
        if consecutive_failures is not None and consecutive_failures < 1:
            raise ValueError(f"consecutive_failures must be at least 1, got {consecutive_failures}")
        if half_open_calls < 1:
            raise ValueError(f"half_open_calls must be at least 1, got {half_open_calls}")
        if not callable(open_duration) and open_duration < 0:
            raise ValueError(f"open_duration must not be negative, got {open_duration}")
        self._auto_named = name is None
        self._name = name if name is not None else f"circuit-breaker-{next(_AUTO_NAMES)}"
        self.failure_rate_threshold = float(failure_rate_threshold)
        self.slow_call_rate_threshold = float(slow_call_rate_threshold)
        self.slow_call_duration = float(slow_call_duration)
        self.window_type = window
        self.window_size = window_size
        self._window: CountWindow | TimeWindow = (
            CountWindow(window_size) if window == "count" else TimeWindow(window_size)
        )
        self.minimum_calls = min(minimum_calls, window_size) if window == "count" else minimum_calls
        self.consecutive_failures = consecutive_failures
        self.half_open_calls = half_open_calls
        self._open_duration = open_duration
        if failure_on is None and failure_if is None:
            failure_on = Exception
        self._failure_on: tuple[type[BaseException], ...] = _as_tuple(failure_on or ())
        self._failure_if = failure_if
        self._failure_result = failure_result
        self._ignore = _as_tuple(ignore)
        self._listeners: tuple[BreakerListener, ...] = tuple(listeners)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _CLOSED
        self._open_until = 0.0
        self._attempt = 0
        self._consecutive = 0
        self._permits = 0
        self._trial_calls = self._trial_failures = self._trial_slow = 0
        self.last_failure: BaseException | None = None
        self._counts: dict[str, int] = {
            "success": 0,
            "failure": 0,
            "ignored": 0,
            "not_permitted": 0,
        }
        # Plain successes in CLOSED are queued here without the lock (deque.append is atomic)
        # and folded into the window, in order, before any decision that reads the window.
        self._pending: deque[float] = deque()
        self._fast = not self._listeners and failure_result is None
        self._stack: ContextVar[tuple[float, ...]] = ContextVar(f"erp_breaker_{id(self)}")
        self._shared: SharedState | None = None
        if shared_url is None or shared_url is True:
            configured = settings().breaker_store_url
            if configured is None and shared_url is True:
                raise ValueError("shared_url=True needs ResilienceConfig.breaker_store_url")
            shared_url = configured
        if isinstance(shared_url, str):
            from ._shared import SharedState

            self._shared = SharedState(self, shared_url)
        self._registered = register
        if register:
            _registry.register(self)

    # -- introspection -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def shared(self) -> SharedState | None:
        return self._shared

    @property
    def pending_successes(self) -> deque[float]:
        return self._pending

    @property
    def state(self) -> State:
        """The current state (an expired OPEN turns HALF_OPEN at the next call)."""
        return self._state

    @property
    def opened(self) -> bool:
        """True while calls are rejected (``circuitbreaker`` monitor protocol)."""
        return self._state in _NOT_PERMITTING

    @property
    def closed(self) -> bool:
        return self._state is _CLOSED

    @property
    def remaining(self) -> float:
        """Seconds until an OPEN breaker lets a trial call through (0 otherwise)."""
        if self._state is not _OPEN:
            return 0.0
        return max(0.0, self._open_until - self._clock())

    @property
    def attempt(self) -> int:
        """How many times in a row the breaker has opened (0 once it closes)."""
        return self._attempt

    @property
    def failure_count(self) -> int:
        with self._lock:
            self._drain()
            return self._window.failures

    def snapshot(self) -> Snapshot:
        """Totals of the current sliding window."""
        with self._lock:
            self._drain()
            return self._window.snapshot(self._clock())

    @property
    def counts(self) -> dict[str, int]:
        """Lifetime outcome counts (also exported as OpenTelemetry metrics)."""
        with self._lock:
            self._drain()
            return dict(self._counts)

    def rename(self, name: str) -> None:
        old = self._name
        self._name = name
        self._auto_named = False
        if self._registered:
            _registry.register(self, previous_name=old)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self._state.value}>"

    # -- manual control ------------------------------------------------------------------
    def _set(self, state: State, *, clear: bool = False) -> None:
        events: list[BreakerEvent] = []
        with self._lock:
            now = self._clock()
            if state is _OPEN:
                self._attempt += 1
                self._open_until = now + self.open_duration_for(self._attempt)
            elif state is _CLOSED:
                self._attempt = 0
            if clear:
                self._window.clear()
                self._consecutive = 0
            self._to(state, now, events)
        if self._shared is not None:
            self._shared.push_state(state, self.remaining, self._attempt)
        self._emit(events)

    def open(self) -> None:
        """Open now, for the configured open duration."""
        self._set(_OPEN)

    def close(self) -> None:
        self._set(_CLOSED)

    def half_open(self) -> None:
        self._set(_HALF_OPEN)

    def force_open(self) -> None:
        """Reject every call until another state is set by hand."""
        self._set(State.FORCED_OPEN)

    def disable(self) -> None:
        """Permit every call and record nothing."""
        self._set(State.DISABLED)

    def metrics_only(self) -> None:
        """Permit and record every call; never trip."""
        self._set(State.METRICS_ONLY)

    def reset(self) -> None:
        """Back to CLOSED with an empty window and no opening history."""
        self._set(_CLOSED, clear=True)

    # -- listeners -----------------------------------------------------------------------
    def add_listener(self, listener: BreakerListener) -> None:
        self._listeners = (*self._listeners, listener)
        self._fast = False

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> CircuitBreaker:
        start = self.acquire()
        self._stack.set((*self._stack.get(()), start))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._stack.get()
        self._stack.set(stack[:-1])
        if exc is None:
            self.record_success(stack[-1])
        else:
            self.record_exception(exc, stack[-1])

    async def __aenter__(self) -> CircuitBreaker:
        start = await self.acquire_async()
        self._stack.set((*self._stack.get(()), start))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._stack.get()
        self._stack.set(stack[:-1])
        if exc is None:
            await self.arecord_success(stack[-1])
        else:
            await self.arecord_exception(exc, stack[-1])

    # -- decorator -----------------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        from ._decorate import guard_breaker

        if self._auto_named:
            self.rename(f"{fn.__module__}.{fn.__qualname__}")
        return guard_breaker(self, fn)

    def decorate(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Same as ``breaker(fn)`` (the ``circuitbreaker`` package's name for it)."""
        return self(fn)

    @property
    def open_remaining(self) -> float:
        """Same as :attr:`remaining` (the ``circuitbreaker`` package's name for it)."""
        return self.remaining

    @property
    def open_until(self) -> datetime:
        """When an OPEN breaker lets a trial call through, as an aware UTC datetime."""
        return datetime.now(UTC) + timedelta(seconds=self.remaining)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` through the breaker."""
        start = self.acquire()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.record_exception(exc, start)
            raise
        self.record_result(result, start)
        return result


def _as_tuple(types: ExceptionTypes) -> tuple[type[BaseException], ...]:
    if isinstance(types, type):
        types = (types,)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"expected exception types, got {item!r}")
    return tuple(types)
