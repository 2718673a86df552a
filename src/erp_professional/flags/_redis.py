"""Redis store: the shared source of truth, with pub/sub change notification.

Layout under ``prefix``: hash ``<prefix>:flags`` (name -> flag JSON), hash
``<prefix>:segments`` (id -> segment JSON), integer ``<prefix>:version`` and the channel
``<prefix>:changes`` where each change publishes the new version.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._model import Flag, FlagDefinitionError, Segment
from ._parse import parse_flag, parse_segment
from ._stores import Loaded

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["RedisStore"]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisStore:
    """Flags shared by every process and host through one Redis."""

    watches = True

    def __init__(self, url: str, *, prefix: str = "erp_pro:flags") -> None:
        from erp_professional.connections import check_scheme

        check_scheme(url, ("redis",), "flags RedisStore")
        self.url = url
        self.prefix = prefix
        self.flags_key = f"{prefix}:flags"
        self.segments_key = f"{prefix}:segments"
        self.version_key = f"{prefix}:version"
        self.channel = f"{prefix}:changes"

    def _client(self) -> redis.Redis:
        from erp_professional.connections import redis_client

        return redis_client(self.url)

    def load(self) -> Loaded:
        pipe = self._client().pipeline(transaction=True)
        pipe.hgetall(self.flags_key)
        pipe.hgetall(self.segments_key)
        pipe.get(self.version_key)
        raw_flags, raw_segments, raw_version = pipe.execute()
        return self._loaded(raw_flags, raw_segments, raw_version)

    def _loaded(
        self,
        raw_flags: Mapping[bytes | str, bytes | str],
        raw_segments: Mapping[bytes | str, bytes | str],
        raw_version: bytes | str | None,
    ) -> Loaded:
        flags: dict[str, Flag] = {}
        for key, value in raw_flags.items():
            name = _text(key)
            try:
                data = json.loads(_text(value))
            except ValueError as err:
                raise FlagDefinitionError(name, "", f"invalid JSON: {err}", self.url) from None
            try:
                flags[name] = parse_flag(name, data)
            except FlagDefinitionError as err:
                raise err.with_source(self.url) from None
        segments: dict[int, Segment] = {}
        for key, value in raw_segments.items():
            where = f"segments[{_text(key)}]"
            try:
                segment = parse_segment(json.loads(_text(value)), where)
            except ValueError as err:
                raise FlagDefinitionError(None, where, str(err), self.url) from None
            segments[segment.id] = segment
        version = int(raw_version) if raw_version is not None else 0
        return Loaded(flags, segments, version)

    def version(self) -> int:
        raw = self._client().get(self.version_key)
        return int(raw) if raw is not None else 0

    def _commit(self, pipe: redis.client.Pipeline) -> int:
        pipe.incr(self.version_key)
        version = int(pipe.execute()[-1])
        self._client().publish(self.channel, str(version))
        return version

    def put(self, flag: Flag) -> int:
        pipe = self._client().pipeline(transaction=True)
        pipe.hset(self.flags_key, flag.name, json.dumps(flag.to_dict(), sort_keys=True))
        return self._commit(pipe)

    def delete(self, name: str) -> int:
        pipe = self._client().pipeline(transaction=True)
        pipe.hdel(self.flags_key, name)
        return self._commit(pipe)

    def replace(self, flags: Mapping[str, Flag], segments: Mapping[int, Segment]) -> int:
        pipe = self._client().pipeline(transaction=True)
        pipe.delete(self.flags_key, self.segments_key)
        if flags:
            pipe.hset(
                self.flags_key,
                mapping={n: json.dumps(f.to_dict(), sort_keys=True) for n, f in flags.items()},
            )
        if segments:
            pipe.hset(
                self.segments_key,
                mapping={str(i): json.dumps(s.to_dict()) for i, s in segments.items()},
            )
        return self._commit(pipe)

    # asyncio twins (redis.asyncio, one client per event loop)
    def _aclient(self) -> redis.asyncio.Redis:
        from erp_professional.connections import async_redis_client

        return async_redis_client(self.url)

    async def aload(self) -> Loaded:
        async with self._aclient().pipeline(transaction=True) as pipe:
            pipe.hgetall(self.flags_key)
            pipe.hgetall(self.segments_key)
            pipe.get(self.version_key)
            raw_flags, raw_segments, raw_version = await pipe.execute()
        return self._loaded(raw_flags, raw_segments, raw_version)

    async def _acommit(self, pipe: redis.asyncio.client.Pipeline) -> int:
        pipe.incr(self.version_key)
        version = int((await pipe.execute())[-1])
        await self._aclient().publish(self.channel, str(version))
        return version

    async def aput(self, flag: Flag) -> int:
        async with self._aclient().pipeline(transaction=True) as pipe:
            pipe.hset(self.flags_key, flag.name, json.dumps(flag.to_dict(), sort_keys=True))
            return await self._acommit(pipe)

    async def adelete(self, name: str) -> int:
        async with self._aclient().pipeline(transaction=True) as pipe:
            pipe.hdel(self.flags_key, name)
            return await self._acommit(pipe)

    async def areplace(self, flags: Mapping[str, Flag], segments: Mapping[int, Segment]) -> int:
        async with self._aclient().pipeline(transaction=True) as pipe:
            pipe.delete(self.flags_key, self.segments_key)
            if flags:
                pipe.hset(
                    self.flags_key,
                    mapping={n: json.dumps(f.to_dict(), sort_keys=True) for n, f in flags.items()},
                )
            if segments:
                pipe.hset(
                    self.segments_key,
                    mapping={str(i): json.dumps(s.to_dict()) for i, s in segments.items()},
                )
            return await self._acommit(pipe)

    def poll(self) -> bool:
        return False

    def watch(self, notify: Callable[[], None], stop: threading.Event, resync: float) -> None:
        """Subscribe, then call ``notify`` on each message and every ``resync`` seconds.

        Returns when ``stop`` is set; connection errors propagate to the caller.
        """
        import redis as redis_lib

        # a dedicated connection: a subscribed connection never goes back to the shared pool
        subscriber = redis_lib.Redis.from_url(self.url, health_check_interval=10)
        pubsub = subscriber.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
            notify()
            due = time.monotonic() + resync
            while not stop.is_set():
                wait = max(0.0, min(0.5, due - time.monotonic()))
                message = pubsub.get_message(timeout=wait)
                if (
                    message is not None and message.get("type") == "message"
                ) or time.monotonic() >= due:
                    notify()
                    due = time.monotonic() + resync
        finally:
            pubsub.close()
            subscriber.close()
