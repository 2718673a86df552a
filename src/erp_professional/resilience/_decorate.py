"""The breaker's wrappers for sync, async, generator and async-generator functions."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

from ._kinds import kind_of
from ._state import State

if TYPE_CHECKING:
    from ._breaker import CircuitBreaker

__all__ = ["guard_breaker"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_CLOSED = State.CLOSED
_DRAIN_AT = 64


def guard_breaker(breaker: CircuitBreaker, fn: Callable[P, R]) -> Callable[P, R]:
    kind = kind_of(fn)
    acquire = breaker.acquire
    clock = breaker.clock
    local = breaker.shared is None
    pending = breaker.pending_successes
    drain = breaker.drain
    record_exception = breaker.record_exception
    record_result = breaker.record_result
    record_success = breaker.record_success

    if kind == "async" and not local:
        afn = cast(Callable[P, Awaitable[object]], fn)
        acquire_async = breaker.acquire_async
        arecord_exception = breaker.arecord_exception
        arecord_result = breaker.arecord_result

        @functools.wraps(fn)
        async def shared_async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
            start = await acquire_async()
            try:
                result = await afn(*args, **kwargs)
            except BaseException as exc:
                await arecord_exception(exc, start)
                raise
            await arecord_result(result, start)
            return result

        wrapper: Callable[..., object] = shared_async_wrapper

    elif kind == "async":
        afn = cast(Callable[P, Awaitable[object]], fn)

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
            start = clock() if breaker._state is _CLOSED else acquire()
            try:
                result = await afn(*args, **kwargs)
            except BaseException as exc:
                record_exception(exc, start)
                raise
            now = clock()
            if (
                breaker._fast
                and breaker._state is _CLOSED
                and now - start < breaker.slow_call_duration
            ):
                pending.append(now)
                if len(pending) > _DRAIN_AT:
                    drain()
            else:
                record_result(result, start)
            return result

        wrapper = async_wrapper

    elif kind == "generator":
        gfn = cast(Callable[P, Iterator[object]], fn)

        @functools.wraps(fn)
        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[object]:
            start = acquire()
            try:
                yield from gfn(*args, **kwargs)
            except GeneratorExit:
                record_success(start)  # the consumer stopped early: not the callee's fault
                raise
            except BaseException as exc:
                record_exception(exc, start)
                raise
            record_success(start)

        wrapper = gen_wrapper

    elif kind == "async_generator":
        agfn = cast(Callable[P, AsyncIterator[object]], fn)

        @functools.wraps(fn)
        async def agen_wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[object]:
            start = await breaker.acquire_async()
            try:
                async for item in agfn(*args, **kwargs):
                    yield item
            except GeneratorExit:
                record_success(start)  # no awaiting while the generator is being closed
                raise
            except BaseException as exc:
                await breaker.arecord_exception(exc, start)
                raise
            await breaker.arecord_success(start)

        wrapper = agen_wrapper

    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock() if local and breaker._state is _CLOSED else acquire()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                record_exception(exc, start)
                raise
            now = clock()
            if (
                breaker._fast
                and breaker._state is _CLOSED
                and now - start < breaker.slow_call_duration
            ):
                pending.append(now)
                if len(pending) > _DRAIN_AT:
                    drain()
            else:
                record_result(result, start)
            return result

        wrapper = sync_wrapper

    wrapper.breaker = breaker  # type: ignore[attr-defined]
    return cast(Callable[P, R], wrapper)
