"""The breaker's state machine: admission, outcome recording and transitions.

All decisions happen inside a short critical section; the user's call runs outside any
lock. Listeners are called after the lock is released and their errors are logged.
:class:`~erp_professional.resilience.CircuitBreaker` sets the attributes declared here.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from ._errors import CircuitOpenError, RejectedError
from ._state import BreakerEvent, BreakerListener, EventKind, State
from ._window import FAILURE, SLOW, CountWindow, TimeWindow

if TYPE_CHECKING:
    from ._shared import SharedState

__all__ = ["BreakerCore", "SharedWork"]

R = TypeVar("R")

log = logging.getLogger("erp_professional.resilience")

_CLOSED = State.CLOSED
_OPEN = State.OPEN
_HALF_OPEN = State.HALF_OPEN

SharedWork = tuple[str, bool, bool]
"""What an outcome leaves for the shared store: ("trial", failure, slow), ("flush", ...),
("release", ...)."""

OpenDuration = float | Callable[[int], float]


class BreakerCore:
    """Decisions of one breaker; see :class:`CircuitBreaker` for the options."""

    _name: str
    _clock: Callable[[], float]
    _lock: threading.Lock
    _state: State
    _open_until: float
    _attempt: int
    _consecutive: int
    _permits: int
    _trial_calls: int
    _trial_failures: int
    _trial_slow: int
    last_failure: BaseException | None
    _counts: dict[str, int]
    _pending: deque[float]
    _fast: bool
    _shared: SharedState | None
    _window: CountWindow | TimeWindow
    minimum_calls: int
    consecutive_failures: int | None
    half_open_calls: int
    failure_rate_threshold: float
    slow_call_rate_threshold: float
    slow_call_duration: float
    _open_duration: OpenDuration
    _failure_on: tuple[type[BaseException], ...]
    _failure_if: Callable[[BaseException], bool] | None
    _failure_result: Callable[[object], bool] | None
    _ignore: tuple[type[BaseException], ...]
    _listeners: tuple[BreakerListener, ...]

    def _drain(self) -> None:
        """Fold queued successes into the window (lock held)."""
        pending = self._pending
        if not pending:
            return
        recording = self._state is _CLOSED or self._state is State.METRICS_ONLY
        count = len(pending)
        popleft = pending.popleft
        window = self._window
        if isinstance(window, CountWindow):
            for _ in range(count):
                popleft()
            if recording:
                window.record_successes(count)
        else:
            times = [popleft() for _ in range(count)]
            if recording:
                for when in times:
                    window.record(0, when)
        self._counts["success"] += count
        if recording:
            self._consecutive = 0

    def drain(self) -> None:
        with self._lock:
            self._drain()

    # -- admission -----------------------------------------------------------------------
    def acquire(self) -> float:
        """Ask to make a call; returns the start time, or raises :class:`CircuitOpenError`."""
        if self._state is _CLOSED and self._shared is None:
            return self._clock()
        now = self._clock()
        if self._admit(now):
            return now
        state, remaining = self._rejected(now)
        raise CircuitOpenError(self._name, state, remaining)

    def try_acquire(self) -> float | None:
        """Like :meth:`acquire` but returns ``None`` instead of raising when rejected."""
        if self._state is _CLOSED and self._shared is None:
            return self._clock()
        now = self._clock()
        if self._admit(now):
            return now
        self._rejected(now)
        return None

    async def acquire_async(self) -> float:
        """:meth:`acquire` for async code: a shared store is reached asynchronously."""
        now = self._clock()
        shared = self._shared
        if shared is None:
            if self._state is _CLOSED or self.local_acquire(now):
                return now
        else:
            await shared.amaybe_sync(now)
            if self._state is _CLOSED or shared.degraded:
                admitted = self.local_acquire(now)
            else:
                admitted = await shared.aacquire(now)
            if admitted:
                return now
        state, remaining = self._rejected(now)
        raise CircuitOpenError(self._name, state, remaining)

    def _admit(self, now: float) -> bool:
        shared = self._shared
        if shared is not None:
            shared.maybe_sync(now)
            if self._state is not _CLOSED and not shared.degraded:
                return shared.acquire(now)
        return self.local_acquire(now)

    def local_acquire(self, now: float) -> bool:
        """Admission decided by this process alone (lock taken here)."""
        events: list[BreakerEvent] = []
        with self._lock:
            state = self._state
            if state is _OPEN and now >= self._open_until:
                self._to(_HALF_OPEN, now, events)
                state = _HALF_OPEN
            if state is _HALF_OPEN:
                permitted = self._permits < self.half_open_calls
                if permitted:
                    self._permits += 1
            else:
                permitted = state is not _OPEN and state is not State.FORCED_OPEN
        if events:
            self._emit(events)
        return permitted

    def _rejected(self, now: float) -> tuple[State, float]:
        with self._lock:
            self._counts["not_permitted"] += 1
            state = self._state
            remaining = max(0.0, self._open_until - now) if state is _OPEN else 0.0
        if self._listeners:
            self._emit([BreakerEvent(EventKind.NOT_PERMITTED, self._name, state)])
        return state, remaining

    # -- outcomes ------------------------------------------------------------------------
    def record_success(self, start: float) -> None:
        self._do(self._success(start))

    def record_failure(self, start: float, exc: BaseException | None = None) -> None:
        self._do(self._failure(start, exc))

    def record_ignored(self) -> None:
        """The call ended in a way that counts as neither success nor failure."""
        self._do(self._ignored())

    def record_exception(self, exc: BaseException, start: float) -> None:
        """Classify ``exc`` and record it as failure, success or ignored."""
        self._do(self._exception(exc, start))

    def record_result(self, result: object, start: float) -> None:
        """Record a returned value (a failure if ``failure_result`` says so)."""
        self._do(self._result(result, start))

    async def arecord_success(self, start: float) -> None:
        """:meth:`record_success` for async code: a shared store is reached asynchronously."""
        await self._ado(self._success(start))

    async def arecord_exception(self, exc: BaseException, start: float) -> None:
        await self._ado(self._exception(exc, start))

    async def arecord_result(self, result: object, start: float) -> None:
        await self._ado(self._result(result, start))

    def _do(self, work: SharedWork | None) -> None:
        if work is not None and self._shared is not None:
            self._shared.perform(work)

    async def _ado(self, work: SharedWork | None) -> None:
        if work is not None and self._shared is not None:
            await self._shared.aperform(work)

    def _success(self, start: float) -> SharedWork | None:
        now = self._clock()
        duration = now - start
        return self._record(SLOW if duration >= self.slow_call_duration else 0, now, duration, None)

    def _failure(self, start: float, exc: BaseException | None) -> SharedWork | None:
        now = self._clock()
        duration = now - start
        flags = FAILURE | (SLOW if duration >= self.slow_call_duration else 0)
        return self._record(flags, now, duration, exc)

    def _ignored(self) -> SharedWork | None:
        with self._lock:
            self._counts["ignored"] += 1
            half_open = self._state is _HALF_OPEN
            if half_open and self._permits > 0:
                self._permits -= 1
        if self._listeners:
            self._emit([BreakerEvent(EventKind.IGNORED, self._name, self._state)])
        shared = self._shared
        if shared is not None and half_open and not shared.degraded:
            return ("release", False, False)
        return None

    def _exception(self, exc: BaseException, start: float) -> SharedWork | None:
        kind = self.classify(exc)
        if kind == "failure":
            return self._failure(start, exc)
        if kind == "success":
            return self._success(start)
        return self._ignored()

    def _result(self, result: object, start: float) -> SharedWork | None:
        predicate = self._failure_result
        if predicate is not None and _safe_predicate(predicate, result, self._name):
            return self._failure(start, None)
        return self._success(start)

    def classify(self, exc: BaseException) -> Literal["failure", "success", "ignored"]:
        if isinstance(exc, self._ignore) or not isinstance(exc, Exception):
            return "ignored"
        if isinstance(exc, RejectedError):
            return "ignored"  # another policy refused the call: the callee never ran
        if isinstance(exc, self._failure_on):
            return "failure"
        predicate = self._failure_if
        if predicate is not None and _safe_predicate(predicate, exc, self._name):
            return "failure"
        return "success"

    def _record(
        self, flags: int, now: float, duration: float, exc: BaseException | None
    ) -> SharedWork | None:
        """Record an outcome locally; returns the work left for the shared store, if any."""
        events: list[BreakerEvent] = []
        trial: tuple[bool, bool] | None = None
        with self._lock:
            self._drain()
            state = self._state
            if flags & FAILURE:
                self._counts["failure"] += 1
                self.last_failure = exc
            else:
                self._counts["success"] += 1
            if state is _CLOSED or state is State.METRICS_ONLY:
                window = self._window
                window.record(flags, now)
                if flags & FAILURE:
                    self._consecutive += 1
                elif self._consecutive:
                    self._consecutive = 0
                if state is _CLOSED and flags and self._should_trip(window):
                    self._trip(now, events)
            elif state is _HALF_OPEN:
                if self._shared is not None and not self._shared.degraded:
                    trial = (bool(flags & FAILURE), bool(flags & SLOW))
                else:
                    self._record_trial(flags, now, events)
        if self._listeners:
            kind = EventKind.FAILURE if flags & FAILURE else EventKind.SUCCESS
            events.insert(
                0,
                BreakerEvent(
                    kind, self._name, self._state, None, duration, bool(flags & SLOW), exc
                ),
            )
            self._emit(events)
        shared = self._shared
        if shared is None:
            return None
        if trial is not None:
            return ("trial", *trial)
        if shared.pending_trip:
            return ("flush", False, False)
        return None

    def _should_trip(self, window: CountWindow | TimeWindow) -> bool:
        threshold = self.consecutive_failures
        if threshold is not None and self._consecutive >= threshold:
            return True
        calls = window.calls
        if calls < self.minimum_calls:
            return False
        return (
            window.failures * 100.0 >= self.failure_rate_threshold * calls
            or window.slow * 100.0 >= self.slow_call_rate_threshold * calls
        )

    def _record_trial(self, flags: int, now: float, events: list[BreakerEvent]) -> None:
        self._trial_calls += 1
        self._trial_failures += flags & FAILURE
        self._trial_slow += (flags & SLOW) >> 1
        calls = self._trial_calls
        if calls < self.half_open_calls:
            return
        if (
            self._trial_failures * 100.0 >= self.failure_rate_threshold * calls
            or self._trial_slow * 100.0 >= self.slow_call_rate_threshold * calls
        ):
            self._trip(now, events)
        else:
            self._attempt = 0
            self._to(_CLOSED, now, events)

    def _trip(self, now: float, events: list[BreakerEvent]) -> None:
        self._attempt += 1
        self._open_until = now + self.open_duration_for(self._attempt)
        self._to(_OPEN, now, events)
        if self._shared is not None:
            self._shared.pending_trip = True

    def open_duration_for(self, attempt: int) -> float:
        """Seconds to stay open after the ``attempt``-th consecutive opening."""
        duration = self._open_duration
        value = duration(attempt) if callable(duration) else duration
        if value < 0:
            raise ValueError(f"open_duration({attempt}) returned a negative value: {value}")
        return float(value)

    def _to(self, state: State, now: float, events: list[BreakerEvent]) -> None:
        """Enter ``state`` (lock held)."""
        self._drain()
        previous = self._state
        self._state = state
        self._permits = 0
        self._trial_calls = self._trial_failures = self._trial_slow = 0
        if state is _CLOSED:
            self._window.clear()
            self._consecutive = 0
        if previous is not state:
            log.info("circuit %r: %s -> %s", self._name, previous.value, state.value)
            events.append(BreakerEvent(EventKind.STATE_CHANGE, self._name, state, previous))

    def apply_remote(self, state: State, remaining: float, attempt: int) -> None:
        """Adopt state read from the shared store."""
        events: list[BreakerEvent] = []
        with self._lock:
            now = self._clock()
            self._attempt = attempt
            if state is _OPEN:
                self._open_until = now + remaining
            if state is not self._state:
                self._to(state, now, events)
        self._emit(events)

    # -- listeners -----------------------------------------------------------------------
    def _emit(self, events: list[BreakerEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("listener %r of circuit %r failed", listener, self._name)


def _safe_predicate(predicate: Callable[[R], bool], value: R, name: str) -> bool:
    try:
        return bool(predicate(value))
    except Exception:
        log.exception(
            "failure predicate of circuit %r raised; counting the call as a failure", name
        )
        return True
