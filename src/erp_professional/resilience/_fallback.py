"""``@fallback``: answer with a value (or a handler's answer) when the call fails."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import ParamSpec, TypeVar, cast

from ._kinds import kind_of

__all__ = ["Fallback", "fallback"]

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("erp_professional.resilience")

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


class Fallback:
    """On an exception matching ``on`` (default: any ``Exception``, which includes an open
    circuit, a full bulkhead and a timeout), return ``value`` or, if ``value`` is callable,
    ``value(exception)`` (awaited if it returns an awaitable in an async function).

    For generators the fallback's items (an iterable) are yielded in place of the rest.
    """

    def __init__(self, value: object = None, *, on: ExceptionTypes = Exception) -> None:
        types = (on,) if isinstance(on, type) else tuple(on)
        for item in types:
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                raise TypeError(f"on= expects exception types, got {item!r}")
        self.value = value
        self.on: tuple[type[BaseException], ...] = types
        self.used = 0

    def answer(self, exc: BaseException) -> object:
        self.used += 1
        log.info("fallback used after %s: %s", type(exc).__name__, exc)
        value = self.value
        return value(exc) if callable(value) else value

    async def answer_async(self, exc: BaseException) -> object:
        value = self.answer(exc)
        if inspect.isawaitable(value):
            return await value
        return value

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        kind = kind_of(fn)
        on = self.on
        if kind in ("sync", "generator") and inspect.iscoroutinefunction(self.value):
            raise TypeError(
                f"fallback handler {self.value!r} is async but {fn.__qualname__} is not: "
                "a sync function cannot await it"
            )
        wrapper: Callable[..., object]
        if kind == "async":
            afn = cast(Callable[..., Awaitable[object]], fn)

            async def async_wrapper(*args: object, **kwargs: object) -> object:
                try:
                    return await afn(*args, **kwargs)
                except on as exc:
                    return await self.answer_async(exc)

            wrapper = async_wrapper
        elif kind == "generator":
            gfn = cast(Callable[..., Iterator[object]], fn)

            def gen_wrapper(*args: object, **kwargs: object) -> Iterator[object]:
                try:
                    yield from gfn(*args, **kwargs)
                except on as exc:
                    yield from cast(Iterable[object], self.answer(exc) or ())

            wrapper = gen_wrapper
        elif kind == "async_generator":
            agfn = cast(Callable[..., AsyncIterator[object]], fn)

            async def agen_wrapper(*args: object, **kwargs: object) -> AsyncIterator[object]:
                try:
                    async for item in agfn(*args, **kwargs):
                        yield item
                except on as exc:
                    items = await self.answer_async(exc)
                    if isinstance(items, AsyncIterable):
                        async for item in items:
                            yield item
                    else:
                        for item in cast(Iterable[object], items or ()):
                            yield item

            wrapper = agen_wrapper
        else:
            sfn = cast(Callable[..., object], fn)

            def sync_wrapper(*args: object, **kwargs: object) -> object:
                try:
                    return sfn(*args, **kwargs)
                except on as exc:
                    return self.answer(exc)

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, fn)
        return cast(Callable[P, R], wrapper)


def fallback(value: object = None, /, *, on: ExceptionTypes = Exception) -> Fallback:
    """``@fallback(value_or_handler, on=...)``: ``@fallback(None)``, ``@fallback([])``,
    ``@fallback(lambda exc: cached_price())``. A handler receives the exception.
    It always takes its value: write ``@fallback(None)``, not a bare ``@fallback``."""
    return Fallback(value, on=on)
