"""``@retry``: exponential backoff with full jitter, deadline, budget and hooks."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import ParamSpec, Protocol, TypeVar, cast, overload

from erp_professional.testing import is_testing

from ._budget import RetryBudget
from ._errors import RejectedError
from ._kinds import kind_of
from ._metrics import RETRY_ATTEMPTS
from ._settings import settings

__all__ = ["Retry", "RetryDetails", "RetryHook", "retry"]

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("erp_professional.resilience")

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


@dataclass(frozen=True, slots=True)
class RetryDetails:
    """One failed attempt that is about to be retried."""

    name: str
    attempt: int
    """Number of the attempt that just failed (1 for the first call)."""
    wait: float
    """Seconds the retry waits before the next attempt."""
    elapsed: float
    exception: BaseException | None
    result: object = None


class RetryHook(Protocol):
    """Called before each wait. Exceptions raised here are logged and never reach the call."""

    def __call__(self, details: RetryDetails, /) -> None: ...


class Retry:
    """Retry policy; use as a decorator. Built by :func:`retry`."""

    def __init__(
        self,
        *,
        attempts: int = 3,
        deadline: float | None = None,
        on: ExceptionTypes | None = None,
        if_exception: Callable[[BaseException], bool] | None = None,
        if_result: Callable[[object], bool] | None = None,
        wait_initial: float = 0.1,
        wait_max: float = 10.0,
        wait_multiplier: float = 2.0,
        jitter: bool = True,
        retry_rejections: bool = False,
        budget: RetryBudget | bool = True,
        hooks: Iterable[RetryHook] = (),
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be positive, got {deadline}")
        if wait_initial < 0 or wait_max < 0:
            raise ValueError("wait_initial and wait_max must not be negative")
        if wait_multiplier < 1:
            raise ValueError(f"wait_multiplier must be at least 1, got {wait_multiplier}")
        if on is None and if_exception is None:
            on = Exception
        self.attempts = attempts
        self.deadline = deadline
        self._on = _as_tuple(on or ())
        self._if_exception = if_exception
        self._if_result = if_result
        self.wait_initial = wait_initial
        self.wait_max = wait_max
        self.wait_multiplier = wait_multiplier
        self.jitter = jitter
        self.retry_rejections = retry_rejections
        if budget is True:
            config = settings()
            budget = RetryBudget(
                config.retry_budget_ratio, config.retry_budget_min_per_second, clock=clock
            )
        self.budget: RetryBudget | None = budget or None
        self._hooks = tuple(hooks)
        self.name = name or "retry"
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._random = random.Random(seed)
        self._next_budget_log = float("-inf")

    # -- decisions (shared by every kind) ------------------------------------------------
    def should_retry_exception(self, exc: BaseException) -> bool:
        if not isinstance(exc, Exception):
            return False
        if isinstance(exc, RejectedError) and not self.retry_rejections:
            return False
        if isinstance(exc, self._on):
            return True
        predicate = self._if_exception
        return predicate is not None and bool(predicate(exc))

    def backoff(self, attempt: int) -> float:
        """Wait before attempt ``attempt + 1``: full jitter over an exponential ceiling."""
        ceiling = min(self.wait_max, self.wait_initial * self.wait_multiplier ** (attempt - 1))
        return self._random.uniform(0.0, ceiling) if self.jitter else ceiling

    def _next_wait(
        self, attempt: int, start: float, exc: BaseException | None, result: object
    ) -> float | None:
        """Seconds to wait before retrying, or None to give up."""
        if attempt >= self.attempts:
            RETRY_ATTEMPTS.add(retry=self.name, outcome="exhausted")
            return None
        wait = self.backoff(attempt)
        retry_after = _retry_after(exc)
        if retry_after is not None:
            wait = retry_after
        elapsed = self._clock() - start
        if self.deadline is not None and elapsed + wait >= self.deadline:
            RETRY_ATTEMPTS.add(retry=self.name, outcome="deadline")
            return None
        if self.budget is not None and not self.budget.try_spend():
            RETRY_ATTEMPTS.add(retry=self.name, outcome="budget_exhausted")
            now = self._clock()
            if now >= self._next_budget_log:  # at most one line per second per policy
                self._next_budget_log = now + 1.0
                log.warning("retry %r: budget exhausted, not retrying", self.name)
            return None
        RETRY_ATTEMPTS.add(retry=self.name, outcome="retry")
        details = RetryDetails(self.name, attempt, wait, elapsed, exc, result)
        for hook in self._hooks:
            try:
                hook(details)
            except Exception:
                log.exception("retry hook %r failed", hook)
        return wait

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and not is_testing():
            self._sleep(seconds)

    async def _await(self, seconds: float) -> None:
        if seconds > 0 and not is_testing():
            await self._async_sleep(seconds)

    # -- decorator -----------------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        if self.name == "retry":
            self.name = f"{fn.__module__}.{fn.__qualname__}"
        kind = kind_of(fn)
        wrapper: Callable[..., object]
        if kind == "async":
            wrapper = self._wrap_async(cast(Callable[..., Awaitable[object]], fn))
        elif kind == "generator":
            wrapper = self._wrap_generator(cast(Callable[..., Iterator[object]], fn))
        elif kind == "async_generator":
            wrapper = self._wrap_async_generator(cast(Callable[..., AsyncIterator[object]], fn))
        else:
            wrapper = self._wrap_sync(fn)
        functools.update_wrapper(wrapper, fn)
        return cast(Callable[P, R], wrapper)

    def _wrap_sync(self, fn: Callable[..., object]) -> Callable[..., object]:
        budget = self.budget
        clock = self._clock
        if_result = self._if_result

        record_call = budget.record_call if budget is not None else None
        same_clock = budget is not None and budget.clock is clock

        def sync_wrapper(*args: object, **kwargs: object) -> object:
            start = clock()
            if record_call is not None:
                record_call(start if same_clock else None)
            attempt = 1
            while True:
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    if not self.should_retry_exception(exc):
                        raise
                    wait = self._next_wait(attempt, start, exc, None)
                    if wait is None:
                        raise
                else:
                    if if_result is None or not if_result(result):
                        return result
                    wait = self._next_wait(attempt, start, None, result)
                    if wait is None:
                        return result
                self._wait(wait)
                attempt += 1

        return sync_wrapper

    def _wrap_async(self, fn: Callable[..., Awaitable[object]]) -> Callable[..., object]:
        budget = self.budget
        clock = self._clock
        if_result = self._if_result

        record_call = budget.record_call if budget is not None else None
        same_clock = budget is not None and budget.clock is clock

        async def async_wrapper(*args: object, **kwargs: object) -> object:
            start = clock()
            if record_call is not None:
                record_call(start if same_clock else None)
            attempt = 1
            while True:
                try:
                    result = await fn(*args, **kwargs)
                except Exception as exc:
                    if not self.should_retry_exception(exc):
                        raise
                    wait = self._next_wait(attempt, start, exc, None)
                    if wait is None:
                        raise
                else:
                    if if_result is None or not if_result(result):
                        return result
                    wait = self._next_wait(attempt, start, None, result)
                    if wait is None:
                        return result
                await self._await(wait)
                attempt += 1

        return async_wrapper

    def _wrap_generator(self, fn: Callable[..., Iterator[object]]) -> Callable[..., object]:
        def gen_wrapper(*args: object, **kwargs: object) -> Iterator[object]:
            start = self._clock()
            if self.budget is not None:
                self.budget.record_call()
            attempt = 1
            while True:
                produced = False
                try:
                    for item in fn(*args, **kwargs):
                        produced = True
                        yield item
                    return
                except Exception as exc:
                    # Items already handed out cannot be taken back: only retry a generator
                    # that failed before its first item.
                    if produced or not self.should_retry_exception(exc):
                        raise
                    wait = self._next_wait(attempt, start, exc, None)
                    if wait is None:
                        raise
                self._wait(wait)
                attempt += 1

        return gen_wrapper

    def _wrap_async_generator(
        self, fn: Callable[..., AsyncIterator[object]]
    ) -> Callable[..., object]:
        async def agen_wrapper(*args: object, **kwargs: object) -> AsyncIterator[object]:
            start = self._clock()
            if self.budget is not None:
                self.budget.record_call()
            attempt = 1
            while True:
                produced = False
                try:
                    async for item in fn(*args, **kwargs):
                        produced = True
                        yield item
                    return
                except Exception as exc:
                    if produced or not self.should_retry_exception(exc):
                        raise
                    wait = self._next_wait(attempt, start, exc, None)
                    if wait is None:
                        raise
                await self._await(wait)
                attempt += 1

        return agen_wrapper


def _retry_after(exc: BaseException | None) -> float | None:
    value = getattr(exc, "retry_after", None) if exc is not None else None
    if value is None:
        return None
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    if isinstance(value, str):
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def _as_tuple(types: ExceptionTypes) -> tuple[type[BaseException], ...]:
    if isinstance(types, type):
        types = (types,)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"expected exception types, got {item!r}")
    return tuple(types)


@overload
def retry(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def retry(
    fn: None = None,
    /,
    *,
    attempts: int = 3,
    deadline: float | None = None,
    on: ExceptionTypes | None = None,
    if_exception: Callable[[BaseException], bool] | None = None,
    if_result: Callable[[object], bool] | None = None,
    wait_initial: float = 0.1,
    wait_max: float = 10.0,
    wait_multiplier: float = 2.0,
    jitter: bool = True,
    retry_rejections: bool = False,
    budget: RetryBudget | bool = True,
    hooks: Iterable[RetryHook] = (),
    name: str | None = None,
    seed: int | None = None,
) -> Retry: ...
def retry(
    fn: Callable[P, R] | None = None,
    /,
    *,
    attempts: int = 3,
    deadline: float | None = None,
    on: ExceptionTypes | None = None,
    if_exception: Callable[[BaseException], bool] | None = None,
    if_result: Callable[[object], bool] | None = None,
    wait_initial: float = 0.1,
    wait_max: float = 10.0,
    wait_multiplier: float = 2.0,
    jitter: bool = True,
    retry_rejections: bool = False,
    budget: RetryBudget | bool = True,
    hooks: Iterable[RetryHook] = (),
    name: str | None = None,
    seed: int | None = None,
) -> Callable[P, R] | Retry:
    """Retry a function: ``@retry`` (3 attempts, 0.1 s .. 10 s full-jitter backoff) or
    ``@retry(attempts=5, deadline=10, on=ConnectionError)``."""
    policy = Retry(
        attempts=attempts,
        deadline=deadline,
        on=on,
        if_exception=if_exception,
        if_result=if_result,
        wait_initial=wait_initial,
        wait_max=wait_max,
        wait_multiplier=wait_multiplier,
        jitter=jitter,
        retry_rejections=retry_rejections,
        budget=budget,
        hooks=hooks,
        name=name,
        seed=seed,
    )
    return policy(fn) if fn is not None else policy
