"""Redis backend: one Lua script per state change, keys hash-tagged per queue.

The argument lists and reply parsing are shared (sans-I/O); :class:`RedisBackend` and
:class:`AsyncRedisBackend` only send them, with ``redis.Redis`` or ``redis.asyncio.Redis``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._backend import FetchSpec, Outcome, Retention, ScheduleRow
from ._lua import SCRIPTS
from ._model import Fetched, HeartbeatReply, JobInfo, NewJob, QueueStats, decode_job, encode_new_job

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["AsyncRedisBackend", "RedisBackend", "queue_prefix"]

_Args = list[str | int]

_pack: Callable[[tuple[str | int, ...]], bytes] | None
try:  # the C packer of the [redis] extra; redis-py's asyncio client packs in Python
    import hiredis

    _pack = cast("Callable[[tuple[str | int, ...]], bytes]", hiredis.pack_command)
except ImportError:  # pragma: no cover - depends on the installed extras
    _pack = None

_LOST = (RedisConnectionError, RedisTimeoutError)
"""Errors after which an idempotent script is sent again, through the client."""
_IDEMPOTENT = frozenset(
    {
        "enqueue",  # a job id is stored once
        "get",
        "stats",
        "dead",
        "schedules",
        "limits",
        "set_limits",
        "add_schedule",
        "heartbeat",
        "progress",
    }
)
"""Scripts that may run twice with the same arguments and reply the same."""


class _Direct:
    """One script sent straight to a connection of the client's pool, skipping the
    client's per-command layers (argument encoding, retry wrapper, instrumentation):
    about a third of the client-side time of a one-job enqueue. Errors are the client's:
    a lost connection raises, and the next call reconnects."""

    __slots__ = ("head", "text")

    def __init__(self, text: str, prefix: str) -> None:
        self.text = text
        self.head: tuple[str | int, ...] = (
            "EVALSHA",
            hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest(),
            1,
            prefix,
        )

    def send(self, conn: Any, args: _Args) -> Any:
        if _pack is not None:
            conn.send_packed_command([_pack((*self.head, *args))])
        else:
            conn.send_command(*self.head, *args)
        return conn.read_response()

    def call(self, client: redis.Redis, args: _Args) -> Any:
        pool: Any = client.connection_pool
        conn = pool.get_connection()
        try:
            try:
                return self.send(conn, args)
            except NoScriptError:
                conn.send_command("SCRIPT", "LOAD", self.text)
                conn.read_response()
                return self.send(conn, args)
        finally:
            pool.release(conn)

    async def asend(self, conn: Any, args: _Args) -> Any:
        if _pack is not None:
            await conn.send_packed_command([_pack((*self.head, *args))])
        else:
            await conn.send_command(*self.head, *args)
        return await conn.read_response()

    async def acall_on(self, conn: Any, args: _Args) -> Any:
        try:
            return await self.asend(conn, args)
        except NoScriptError:
            await conn.send_command("SCRIPT", "LOAD", self.text)
            await conn.read_response()
            return await self.asend(conn, args)

    async def acall(self, client: redis.asyncio.Redis, args: _Args) -> Any:
        pool: Any = client.connection_pool
        conn = await pool.get_connection()
        try:
            return await self.acall_on(conn, args)
        finally:
            await pool.release(conn)


def queue_prefix(name: str) -> str:
    """Key prefix of a queue; the braces keep all its keys in one Redis Cluster slot."""
    if not name or any(c in name for c in "{}\n\r "):
        raise ValueError(
            f"invalid queue name {name!r}: use a non-empty name without braces or spaces"
        )
    return f"erp:q:{{{name}}}:"


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _row(flat: Sequence[object]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _job_args(jobs: Sequence[NewJob]) -> _Args:
    args: _Args = [len(jobs)]
    for job in jobs:
        args += [
            job.id,
            job.task,
            job.dedup,
            job.dedup_ttl_ms,
            job.run_at,
            job.priority,
            encode_new_job(job),
        ]
    return args


def _spec_args(prefix: str, now_ms: int, spec: FetchSpec | None) -> _Args:
    if spec is None:
        return [prefix, now_ms, 0, 0, "", 0, 0]
    return [prefix, now_ms, spec.n, spec.lease_ms, spec.worker, spec.max_stalls, spec.keep_failed]


def _fetched(reply: Sequence[Any]) -> Fetched:
    wake = int(reply[1])
    return Fetched(
        [decode_job(_row(flat)) for flat in reply[2]], None if wake < 0 else wake, int(reply[0])
    )


def _stats(reply: Sequence[Any], now_ms: int) -> QueueStats:
    oldest = int(reply[5])
    age = 0.0 if oldest < 0 else max(0.0, (now_ms - oldest) / 1000)
    return QueueStats(
        waiting=int(reply[0]) + int(reply[6]),
        delayed=int(reply[1]),
        active=int(reply[2]),
        done=int(reply[3]),
        failed=int(reply[4]),
        oldest_waiting_age=age,
        parked=int(reply[6]),
    )


def _limit_args(definitions: Mapping[str, str]) -> _Args:
    args: _Args = []
    for task, text in definitions.items():
        args += [task, text]
    return args


def _limits(reply: Sequence[Any]) -> dict[str, str]:
    return _row(reply)


def _ids(ids: Sequence[str] | None) -> _Args:
    return ["all"] if ids is None else ["ids", *ids]


class _Calls:
    """Builds (script, argv) pairs for one queue."""

    def __init__(self, name: str) -> None:
        self.prefix = queue_prefix(name)

    def base(self, now_ms: int = 0, spec: FetchSpec | None = None) -> _Args:
        return _spec_args(self.prefix, now_ms, spec)

    def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> _Args:
        return [self.prefix, now_ms, *_job_args(jobs)]

    def claim(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> _Args:
        return [*self.base(now_ms), sched_id, str(expected_ms), str(new_ms), *_job_args(jobs)]

    def complete(
        self, job_id: str, token: str, result: str, now_ms: int, ret: Retention, spec: FetchSpec
    ) -> _Args:
        return [*self.base(now_ms, spec), job_id, token, result, ret.keep_done, ret.result_ttl_ms]

    def fail(
        self,
        job_id: str,
        token: str,
        now_ms: int,
        outcome: str,
        retry_at_ms: int,
        error: str,
        traceback: str,
        ret: Retention,
        spec: FetchSpec,
    ) -> _Args:
        return [
            *self.base(now_ms, spec),
            job_id,
            token,
            outcome,
            retry_at_ms,
            error,
            traceback,
            ret.keep_done,
        ]

    def heartbeat(self, leases: Sequence[tuple[str, str]], now_ms: int, lease_ms: int) -> _Args:
        args: _Args = [self.prefix, now_ms, 0, lease_ms, "", 0, 0]
        for job_id, token in leases:
            args += [job_id, token]
        return args


def _schedules(reply: Sequence[Any]) -> list[ScheduleRow]:
    rows = [ScheduleRow(_text(r[0]), _text(r[1]), int(_text(r[2]))) for r in reply]
    return sorted(rows, key=lambda r: r.id)


def _heartbeat(reply: Sequence[Any]) -> HeartbeatReply:
    return HeartbeatReply([_text(i) for i in reply[0]], [_text(i) for i in reply[1]])


class RedisBackend:
    """Synchronous Redis backend of one queue."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.calls = _Calls(name)
        self._scripts = {k: client.register_script(v) for k, v in SCRIPTS.items()}
        self._direct = {k: _Direct(v, self.calls.prefix) for k, v in SCRIPTS.items()}

    def _run(self, script: str, args: _Args) -> Any:
        if script not in _IDEMPOTENT:
            return self._direct[script].call(self.client, args)
        try:
            return self._direct[script].call(self.client, args)
        except _LOST:
            return self._scripts[script](keys=[self.calls.prefix], args=args)

    def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> list[tuple[str, bool]]:
        reply = self._run("enqueue", self.calls.enqueue(jobs, now_ms))
        return [(_text(r[0]), int(r[1]) == 1) for r in reply]

    def get(self, job_id: str) -> JobInfo | None:
        flat = self._run("get", [*self.calls.base(), job_id])
        return decode_job(_row(flat)) if flat else None

    def cancel(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        return bool(self._run("cancel", [*self.calls.base(now_ms), job_id, "cancel", keep_done]))

    def abort(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        return bool(self._run("cancel", [*self.calls.base(now_ms), job_id, "abort", keep_done]))

    def stats(self, now_ms: int) -> QueueStats:
        return _stats(self._run("stats", self.calls.base(now_ms)), now_ms)

    def dead(self, offset: int, limit: int) -> list[JobInfo]:
        reply = self._run("dead", [*self.calls.base(), offset, offset + limit - 1])
        return [decode_job(_row(flat)) for flat in reply]

    def retry_dead(self, ids: Sequence[str] | None, now_ms: int) -> int:
        return int(self._run("retry_dead", [*self.calls.base(now_ms), *_ids(ids)]))

    def purge_dead(self, ids: Sequence[str] | None) -> int:
        return int(self._run("purge_dead", [*self.calls.base(), *_ids(ids)]))

    def add_schedule(self, sched_id: str, spec: str, now_ms: int) -> None:
        self._run("add_schedule", [*self.calls.base(now_ms), sched_id, spec])

    def remove_schedule(self, sched_id: str) -> bool:
        return bool(self._run("remove_schedule", [*self.calls.base(), sched_id]))

    def schedules(self) -> list[ScheduleRow]:
        return _schedules(self._run("schedules", self.calls.base()))

    def set_limits(self, definitions: Mapping[str, str], now_ms: int) -> None:
        self._run("set_limits", [*self.calls.base(now_ms), *_limit_args(definitions)])

    def limits(self) -> dict[str, str]:
        return _limits(self._run("limits", self.calls.base()))

    def claim_schedule(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> bool:
        args = self.calls.claim(sched_id, expected_ms, new_ms, jobs, now_ms)
        return bool(self._run("claim_schedule", args))


class AsyncRedisBackend:
    """Asynchronous Redis backend of one queue, with a blocking wait on its marker key."""

    def __init__(self, client: redis.asyncio.Redis, name: str) -> None:
        self.client = client
        self.calls = _Calls(name)
        self._scripts = {k: client.register_script(v) for k, v in SCRIPTS.items()}
        self._direct = {k: _Direct(v, self.calls.prefix) for k, v in SCRIPTS.items()}
        self._lane: Any = None
        self._lane_busy = False

    async def _run(self, script: str, args: _Args) -> Any:
        if script not in _IDEMPOTENT:
            # On a connection checked out (and checked) by the pool, as the client does:
            # a script that must not run twice is never sent on a connection that died.
            return await self._direct[script].acall(self.client, args)
        try:
            return await self._on_lane(self._direct[script], args)
        except _LOST:
            return await self._scripts[script](keys=[self.calls.prefix], args=args)

    async def _on_lane(self, direct: _Direct, args: _Args) -> Any:
        """A direct call on this backend's own connection (taken from the pool once and
        kept: the asyncio pool's checkout costs as much as the call), or on a pooled one
        while another coroutine of the loop is using it. A connection that died while
        idle fails the call, which is then sent again through the client."""
        if self._lane_busy:
            return await direct.acall(self.client, args)
        self._lane_busy = True
        try:
            if self._lane is None:
                pool: Any = self.client.connection_pool
                self._lane = await pool.get_connection()
            return await direct.acall_on(self._lane, args)
        finally:
            self._lane_busy = False

    async def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> list[tuple[str, bool]]:
        reply = await self._run("enqueue", self.calls.enqueue(jobs, now_ms))
        return [(_text(r[0]), int(r[1]) == 1) for r in reply]

    async def get(self, job_id: str) -> JobInfo | None:
        flat = await self._run("get", [*self.calls.base(), job_id])
        return decode_job(_row(flat)) if flat else None

    async def cancel(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        args = [*self.calls.base(now_ms), job_id, "cancel", keep_done]
        return bool(await self._run("cancel", args))

    async def abort(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        args = [*self.calls.base(now_ms), job_id, "abort", keep_done]
        return bool(await self._run("cancel", args))

    async def stats(self, now_ms: int) -> QueueStats:
        return _stats(await self._run("stats", self.calls.base(now_ms)), now_ms)

    async def dead(self, offset: int, limit: int) -> list[JobInfo]:
        reply = await self._run("dead", [*self.calls.base(), offset, offset + limit - 1])
        return [decode_job(_row(flat)) for flat in reply]

    async def retry_dead(self, ids: Sequence[str] | None, now_ms: int) -> int:
        return int(await self._run("retry_dead", [*self.calls.base(now_ms), *_ids(ids)]))

    async def purge_dead(self, ids: Sequence[str] | None) -> int:
        return int(await self._run("purge_dead", [*self.calls.base(), *_ids(ids)]))

    async def add_schedule(self, sched_id: str, spec: str, now_ms: int) -> None:
        await self._run("add_schedule", [*self.calls.base(now_ms), sched_id, spec])

    async def remove_schedule(self, sched_id: str) -> bool:
        return bool(await self._run("remove_schedule", [*self.calls.base(), sched_id]))

    async def schedules(self) -> list[ScheduleRow]:
        return _schedules(await self._run("schedules", self.calls.base()))

    async def set_limits(self, definitions: Mapping[str, str], now_ms: int) -> None:
        await self._run("set_limits", [*self.calls.base(now_ms), *_limit_args(definitions)])

    async def limits(self) -> dict[str, str]:
        return _limits(await self._run("limits", self.calls.base()))

    async def claim_schedule(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> bool:
        args = self.calls.claim(sched_id, expected_ms, new_ms, jobs, now_ms)
        return bool(await self._run("claim_schedule", args))

    async def fetch(self, spec: FetchSpec, now_ms: int) -> Fetched:
        return _fetched(await self._run("fetch", self.calls.base(now_ms, spec)))

    async def wait(self, seconds: float) -> None:
        """Block on the queue's marker (set by every enqueue) for at most ``seconds``."""
        if seconds <= 0:
            return
        from redis.exceptions import TimeoutError as RedisTimeout

        try:
            await self.client.bzpopmin(self.calls.prefix + "marker", timeout=max(0.01, seconds))
        except RedisTimeout:
            # The client's socket timeout ended the block first: same as no marker in time.
            return

    async def complete(
        self,
        job_id: str,
        token: str,
        result: str,
        now_ms: int,
        retention: Retention,
        spec: FetchSpec,
    ) -> tuple[bool, Fetched]:
        args = self.calls.complete(job_id, token, result, now_ms, retention, spec)
        reply = await self._run("complete", args)
        return int(reply[0]) == 1, _fetched(reply[1])

    async def fail(
        self,
        job_id: str,
        token: str,
        now_ms: int,
        outcome: str,
        retry_at_ms: int,
        error: str,
        traceback: str,
        retention: Retention,
        spec: FetchSpec,
    ) -> tuple[bool, Fetched]:
        args = self.calls.fail(
            job_id, token, now_ms, outcome, retry_at_ms, error, traceback, retention, spec
        )
        reply = await self._run("fail", args)
        return int(reply[0]) == 1, _fetched(reply[1])

    async def report(
        self, outcomes: Sequence[Outcome], now_ms: int, retention: Retention, spec: FetchSpec
    ) -> tuple[list[bool], Fetched]:
        args: _Args = [
            *self.calls.base(now_ms, spec),
            retention.keep_done,
            retention.result_ttl_ms,
            len(outcomes),
        ]
        for o in outcomes:
            args += [o.kind, o.job_id, o.token, o.result, o.retry_at_ms, o.error, o.traceback]
        reply = await self._run("report", args)
        return [int(ok) == 1 for ok in reply[0]], _fetched(reply[1])

    async def release(self, job_id: str, token: str, now_ms: int) -> bool:
        return bool(await self._run("release", [*self.calls.base(now_ms), job_id, token]))

    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], now_ms: int, lease_ms: int
    ) -> HeartbeatReply:
        return _heartbeat(
            await self._run("heartbeat", self.calls.heartbeat(leases, now_ms, lease_ms))
        )

    async def progress(self, job_id: str, token: str, value: str) -> bool:
        args = [*self.calls.base(), job_id, token, value]
        return bool(await self._run("progress", args))

    async def aclose(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            await self.client.connection_pool.release(lane)
