"""``AsyncFeatureFlags``: the asyncio twin of :class:`FeatureFlags`.

Evaluation is pure CPU and stays synchronous (no ``await`` needed to read a flag). The
methods that talk to the store (``start``, ``refresh``, ``set_flag``, ``delete_flag``,
``kill``, ``apply_unleash_events``, ``close``) are coroutines: with a Redis store they use
``redis.asyncio``; other stores run in a worker thread, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, TypeVar, overload

from ._flags import ContextLike, FeatureFlags
from ._hooks import AuditRecord, Exposure, FlagChange
from ._model import Flag
from ._parse import parse_flag
from ._redis import RedisStore
from ._types import EvaluationDetails, State, Variant
from ._unleash import apply_events

__all__ = ["AsyncFeatureFlags"]

T = TypeVar("T")


class AsyncFeatureFlags:
    """Wraps a :class:`FeatureFlags`; same method names, store I/O awaited."""

    def __init__(self, flags: FeatureFlags | None = None, **options: object) -> None:
        self.sync = flags if flags is not None else FeatureFlags(**options)  # type: ignore[arg-type]

    # evaluation: synchronous, never blocks
    def is_enabled(self, name: str, context: ContextLike = None, default: bool = False) -> bool:
        return self.sync.is_enabled(name, context, default)

    def get_variant(self, name: str, context: ContextLike = None) -> Variant:
        return self.sync.get_variant(name, context)

    @overload
    def evaluate(self, name: str, context: ContextLike = None) -> EvaluationDetails[bool]: ...

    @overload
    def evaluate(self, name: str, context: ContextLike, default: T) -> EvaluationDetails[T]: ...

    def evaluate(
        self, name: str, context: ContextLike = None, default: object = False
    ) -> EvaluationDetails[Any]:
        return self.sync.evaluate(name, context, default)

    @property
    def state(self) -> State:
        return self.sync.state

    def get_flag(self, name: str) -> Flag | None:
        return self.sync.get_flag(name)

    def list_flags(self) -> list[Flag]:
        return self.sync.list_flags()

    def override(
        self, name: str, value: bool | str | Variant = True, payload: object = None
    ) -> AbstractContextManager[None]:
        return self.sync.override(name, value, payload)

    def on_change(self, callback: Callable[[FlagChange], None]) -> Callable[[], None]:
        return self.sync.on_change(callback)

    def on_audit(self, callback: Callable[[AuditRecord], None]) -> Callable[[], None]:
        return self.sync.on_audit(callback)

    def on_exposure(self, callback: Callable[[Exposure], None]) -> Callable[[], None]:
        return self.sync.on_exposure(callback)

    # store I/O: awaited (natively for Redis, in a worker thread otherwise)
    def _redis(self) -> RedisStore | None:
        store = self.sync.store
        return store if isinstance(store, RedisStore) else None

    async def _areload(self, store: RedisStore, *, raise_errors: bool) -> None:
        sync = self.sync
        seq = next(sync._seq)
        try:
            loaded = await store.aload()
        except Exception as err:
            sync._load_failed(err, raise_errors=raise_errors)
            return
        sync._apply(loaded, seq)

    async def start(self, timeout: float | None = None) -> State:  # noqa: ASYNC109 - twin of start()
        return await asyncio.to_thread(self.sync.start, timeout)

    async def refresh(self) -> State:
        store = self._redis()
        if store is None:
            return await asyncio.to_thread(self.sync.refresh)
        await self._areload(store, raise_errors=False)
        return self.sync.state

    async def set_flag(
        self,
        flag: Flag | str,
        spec: Mapping[str, object] | None = None,
        *,
        actor: str | None = None,
        reason: str = "",
    ) -> Flag:
        store = self._redis()
        if store is None:
            return await asyncio.to_thread(
                lambda: self.sync.set_flag(flag, spec, actor=actor, reason=reason)
            )
        if isinstance(flag, str):
            flag = parse_flag(flag, spec if spec is not None else {})
        elif spec is not None:
            raise TypeError("spec is only used with a flag name")
        before = self.sync.get_flag(flag.name)
        version = await store.aput(flag)
        await self._areload(store, raise_errors=True)
        self.sync._audit("set", flag.name, actor, before, flag, reason, version)
        return flag

    async def delete_flag(self, name: str, *, actor: str | None = None, reason: str = "") -> bool:
        store = self._redis()
        if store is None:
            return await asyncio.to_thread(
                lambda: self.sync.delete_flag(name, actor=actor, reason=reason)
            )
        before = self.sync.get_flag(name)
        version = await store.adelete(name)
        await self._areload(store, raise_errors=True)
        self.sync._audit("delete", name, actor, before, None, reason, version)
        return before is not None

    async def kill(self, name: str, *, actor: str | None = None, reason: str = "") -> Flag:
        store = self._redis()
        if store is None:
            return await asyncio.to_thread(lambda: self.sync.kill(name, actor=actor, reason=reason))
        await self._areload(store, raise_errors=True)  # the store's current definition
        before = self.sync.get_flag(name)
        if before is None:
            raise KeyError(f"flag {name!r} not found")
        after = replace(before, enabled=False)
        version = await store.aput(after)
        await self._areload(store, raise_errors=True)
        self.sync._audit("kill", name, actor, before, after, reason, version)
        return after

    async def apply_unleash_events(
        self,
        events: Iterable[Mapping[str, object]] | Mapping[str, object],
        *,
        actor: str | None = None,
    ) -> int:
        store = self._redis()
        if store is None:
            return await asyncio.to_thread(
                lambda: self.sync.apply_unleash_events(events, actor=actor)
            )
        await self._areload(store, raise_errors=True)  # apply to the store's current flags
        current = self.sync._snapshot
        flags, segments, count = apply_events(current.definitions, current.segments, events)
        version = await store.areplace(flags, segments)
        await self._areload(store, raise_errors=True)
        self.sync._audit("unleash-events", "*", actor, None, None, f"{count} events", version)
        return count

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncFeatureFlags:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
