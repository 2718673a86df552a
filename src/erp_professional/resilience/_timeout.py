"""``@timeout``: stop waiting for a call after a number of seconds.

Async calls are cancelled. A sync call runs in a (daemon) worker thread and the caller
stops waiting for it; Python cannot kill a thread, so the call keeps running in the
background until it returns on its own (its result is discarded).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Literal, ParamSpec, TypeVar, cast, overload

from ._errors import CallTimeoutError
from ._kinds import kind_of
from ._metrics import TIMEOUTS
from ._watchdog import watchdog
from ._workers import submit

__all__ = ["Timeout", "timeout"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Timeout:
    """Time limit for a call. ``scope`` tells :class:`Policy` where to put it: ``"attempt"``
    (inside retry, each attempt gets the limit) or ``"overall"`` (outside retry)."""

    def __init__(
        self,
        seconds: float,
        *,
        name: str | None = None,
        scope: Literal["attempt", "overall"] = "attempt",
    ) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"timeout seconds must be a positive number, got {seconds!r}")
        if scope not in ("attempt", "overall"):
            raise ValueError(f"scope must be 'attempt' or 'overall', got {scope!r}")
        self.seconds = float(seconds)
        self.name = name or "timeout"
        self.scope = scope
        self._scopes: contextvars.ContextVar[tuple[asyncio.Timeout, ...]] = contextvars.ContextVar(
            f"erp_timeout_{id(self)}"
        )

    def _expired(self) -> CallTimeoutError:
        TIMEOUTS.add(call=self.name)
        return CallTimeoutError(self.name, self.seconds)

    def _run_in_thread(self, fn: Callable[[], T], deadline: float) -> T:
        context = contextvars.copy_context()
        future = submit(functools.partial(context.run, fn))
        try:
            return future.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self._expired() from None

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a sync ``fn`` with the time limit (in a worker thread)."""
        return self._run_in_thread(
            functools.partial(fn, *args, **kwargs), time.monotonic() + self.seconds
        )

    # -- async context manager ------------------------------------------------------------
    async def __aenter__(self) -> Timeout:
        scope = asyncio.timeout(self.seconds)
        await scope.__aenter__()
        self._scopes.set((*self._scopes.get(()), scope))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scopes = self._scopes.get()
        scope = scopes[-1]
        self._scopes.set(scopes[:-1])
        try:
            await scope.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            if scope.expired():
                raise self._expired() from None
            raise

    def __enter__(self) -> Timeout:
        raise TypeError(
            "a timeout cannot interrupt a synchronous with-block; decorate the function "
            "with @timeout(...) or use timeout(...).call(fn, ...), or 'async with'"
        )

    def __exit__(self, *exc: object) -> None:
        return None

    # -- decorator --------------------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        if self.name == "timeout":
            self.name = f"{fn.__module__}.{fn.__qualname__}"
        kind = kind_of(fn)
        seconds = self.seconds
        wrapper: Callable[..., object]
        if kind == "async":
            afn = cast(Callable[..., Awaitable[object]], fn)

            async def async_wrapper(*args: object, **kwargs: object) -> object:
                dog = watchdog()
                deadline = dog.add(seconds)
                try:
                    return await afn(*args, **kwargs)
                except asyncio.CancelledError:
                    if deadline.expired:
                        deadline.expired = False
                        if deadline.task.uncancel() <= deadline.cancelling:
                            raise self._expired() from None
                    raise
                finally:
                    dog.remove(deadline)
                    if deadline.expired:  # the callee swallowed our cancellation
                        deadline.task.uncancel()

            wrapper = async_wrapper
        elif kind == "async_generator":
            agfn = cast(Callable[..., AsyncIterator[object]], fn)

            async def agen_wrapper(*args: object, **kwargs: object) -> AsyncIterator[object]:
                deadline = asyncio.get_running_loop().time() + seconds
                iterator = aiter(agfn(*args, **kwargs))
                while True:
                    scope = asyncio.timeout_at(deadline)
                    try:
                        async with scope:
                            item = await anext(iterator)
                    except StopAsyncIteration:
                        return
                    except TimeoutError:
                        if scope.expired():
                            raise self._expired() from None
                        raise
                    yield item

            wrapper = agen_wrapper
        elif kind == "generator":
            gfn = cast(Callable[..., Iterator[object]], fn)
            done = object()

            def gen_wrapper(*args: object, **kwargs: object) -> Iterator[object]:
                deadline = time.monotonic() + seconds
                iterator = iter(gfn(*args, **kwargs))
                while True:
                    item = self._run_in_thread(functools.partial(next, iterator, done), deadline)
                    if item is done:
                        return
                    yield item

            wrapper = gen_wrapper
        else:
            sfn = cast(Callable[..., object], fn)

            def sync_wrapper(*args: object, **kwargs: object) -> object:
                return self._run_in_thread(
                    functools.partial(sfn, *args, **kwargs), time.monotonic() + seconds
                )

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, fn)
        return cast(Callable[P, R], wrapper)


@overload
def timeout(seconds: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def timeout(
    seconds: float = 30.0,
    /,
    *,
    name: str | None = None,
    scope: Literal["attempt", "overall"] = "attempt",
) -> Timeout: ...
def timeout(
    seconds: float | Callable[P, R] = 30.0,
    /,
    *,
    name: str | None = None,
    scope: Literal["attempt", "overall"] = "attempt",
) -> Timeout | Callable[P, R]:
    """Limit a call to ``seconds``: ``@timeout(2.5)`` (bare ``@timeout``: 30 s); also
    ``async with timeout(2.5):`` and ``timeout(2.5).call(fn, ...)``."""
    if callable(seconds):
        return Timeout(30.0, name=name, scope=scope)(seconds)
    return Timeout(seconds, name=name, scope=scope)
