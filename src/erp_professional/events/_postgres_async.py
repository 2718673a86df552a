"""The asyncio PostgreSQL backend: the same plans as the sync one, on the async pool."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from erp_professional.connections import async_postgres_pool

from . import _pg_plans as plans
from ._core import AuditQuery, Batch, decode_rows
from ._pg_notify import notifier
from ._postgres import conninfo, one_event_rows, one_event_values_for, prepared_gen
from ._protocol import AsyncBatchHandler, Snapshot, StoreStats
from ._types import AppendResult, RecordedEvent

_CURSORS: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], psycopg.AsyncCursor[Any]] = (
    weakref.WeakKeyDictionary()
)
# The names of the one-event append statements prepared on each pooled connection.
_PREPARED: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], set[bytes]] = (
    weakref.WeakKeyDictionary()
)
_TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK


def cursor_of(conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
    """The reusable tuple-row cursor of ``conn`` (see the sync backend)."""
    cur = _CURSORS.get(conn)
    if cur is None or cur.closed:
        cur = _CURSORS[conn] = conn.cursor(row_factory=tuple_row)
    return cur


async def _append_one(
    conn: psycopg.AsyncConnection[Any], step: plans.AppendOne
) -> list[tuple[Any, ...]] | None:
    """A one-event append as a prepared statement (see the sync backend's ``_append_one``);
    ``None`` where psycopg must send it."""
    values = one_event_values_for(conn, step)
    if values is None:
        return None
    known = _PREPARED.get(conn)
    if known is None:
        known = _PREPARED[conn] = set()
    statement = plans.one_event_statement(step.prefix, step.batch.expected)
    async with conn.lock:
        result = await conn.wait(prepared_gen(conn.pgconn, statement, values, known))
    return one_event_rows(result)


async def _execute(
    cur: psycopg.AsyncCursor[Any], step: plans.Query | plans.AppendOne
) -> list[tuple[Any, ...]]:
    """Run a query (a one-event append as psycopg's statement) through the cursor."""
    query = (
        plans.one_event_query(step.prefix, step.batch)
        if isinstance(step, plans.AppendOne)
        else step
    )
    await cur.execute(query.sql, query.params)
    result = cur.pgresult
    return await cur.fetchall() if result is not None and result.status == _TUPLES_OK else []


async def drive(conn: psycopg.AsyncConnection[Any], plan: plans.Plan) -> Any:
    """Run a plan on an async connection in autocommit mode."""
    cur = cursor_of(conn)
    try:
        step = next(plan)
        while True:
            if isinstance(step, plans.Sleep):
                await asyncio.sleep(step.seconds)
                step = plan.send([])
                continue
            try:
                if isinstance(step, plans.AppendOne):
                    found = await _append_one(conn, step)
                    rows = found if found is not None else await _execute(cur, step)
                else:
                    rows = await _execute(cur, step)
            except psycopg.Error as exc:
                step = plan.throw(exc)
                continue
            step = plan.send(rows)
    except StopIteration as stop:
        return stop.value


class AsyncPgWaiter:
    """LISTEN on a dedicated async connection (opened on the first wait)."""

    def __init__(self, url: str, channel: str) -> None:
        self._url = url
        self._channel = channel
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def mark(self) -> None:
        return None

    async def wait(self, seconds: float) -> None:
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(conninfo(self._url), autocommit=True)
            await self._conn.execute(f"LISTEN {self._channel}")
            return
        async for _ in self._conn.notifies(timeout=seconds, stop_after=1):
            pass

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class AsyncPostgresBackend:
    """The async twin of :class:`~._postgres.PostgresBackend`."""

    def __init__(self, url: str, prefix: str, notify: bool = True) -> None:
        self._url = url
        self._p = prefix
        self._safe = 0  # highest horizon found so far: positions up to it are final
        self._notifier = notifier(conninfo(url), f"{prefix}events") if notify else None

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        pool = await async_postgres_pool(self._url)
        async with pool.connection() as conn:
            switched = not conn.autocommit
            if switched:
                await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                # A broken connection is left as it is: the pool discards it.
                if not conn.closed:
                    if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        await conn.rollback()
                    if switched:
                        await conn.set_autocommit(False)

    async def _run(self, plan: plans.Plan) -> Any:
        async with self._conn() as conn:
            return await drive(conn, plan)

    async def _fetch(self, query: plans.Query) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cur = cursor_of(conn)
            await cur.execute(query.sql, query.params)
            return await cur.fetchall() if cur.description is not None else []

    async def setup(self) -> None:
        await self._run(plans.setup_plan(self._p))

    async def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        result: list[AppendResult] = await self._run(plans.append_plan(self._p, batches))
        if self._notifier is not None and any(b.events for b in batches):
            self._notifier.request()
        return result

    async def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        query = plans.read_stream_query(self._p, stream_id, from_version, backwards, limit)
        return decode_rows(await self._fetch(query))

    async def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]:
        plan = plans.read_all_plan(self._p, after, limit, types, prefix, wait, self._safe)
        rows, horizon, verified = await self._run(plan)
        if verified:
            self._safe = max(self._safe, int(horizon))
        return decode_rows(rows), int(horizon)

    async def audit(self, query: AuditQuery) -> list[RecordedEvent]:
        return decode_rows(await self._fetch(plans.audit_query(self._p, query)))

    async def stream_version(self, stream_id: str) -> int:
        rows = await self._fetch(plans.stream_version_query(self._p, stream_id))
        return int(rows[0][0]) if rows else 0

    async def stats(self) -> StoreStats:
        return plans.to_stats((await self._fetch(plans.stats_query(self._p)))[0])

    def waiter(self) -> AsyncPgWaiter:
        return AsyncPgWaiter(self._url, f"{self._p}events")

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        state = json.dumps(snapshot.state, allow_nan=False)
        await self._fetch(plans.save_snapshot_query(self._p, snapshot, state))

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        rows = await self._fetch(plans.load_snapshot_query(self._p, stream_id))
        if not rows:
            return None
        r = rows[0]
        return Snapshot(r[0], int(r[1]), r[2], int(r[3]), json.loads(r[4]))

    async def delete_snapshots(self, stream_prefix: str | None) -> int:
        return len(await self._fetch(plans.delete_snapshots_query(self._p, stream_prefix)))

    async def checkpoint(self, name: str) -> int:
        rows = await self._fetch(plans.checkpoint_query(self._p, name))
        return int(rows[0][0]) if rows else 0

    async def handle(
        self, name: str, events: Sequence[RecordedEvent], handler: AsyncBatchHandler
    ) -> None:
        pool = await async_postgres_pool(self._url)
        async with pool.connection() as conn, conn.transaction():
            await handler(events, conn)
            if events:
                q = plans.save_checkpoint_query(self._p, name, events[-1].position)
                await conn.execute(q.sql, q.params)

    async def reset_checkpoint(self, name: str) -> None:
        await self._fetch(plans.reset_checkpoint_query(self._p, name))

    async def last_position(self) -> int:
        return int((await self._fetch(plans.last_position_query(self._p)))[0][0])

    def leader(self, name: str) -> AsyncPgLeader:
        return AsyncPgLeader(self._url, self._p, name)

    async def close(self) -> None:
        return None


class AsyncPgLeader:
    """A session advisory lock on a dedicated async connection."""

    def __init__(self, url: str, prefix: str, name: str) -> None:
        self._url = url
        self._p = prefix
        self._name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def try_acquire(self) -> bool:
        if self._conn is not None and not self._conn.closed:
            return True
        conn = await psycopg.AsyncConnection.connect(conninfo(self._url), autocommit=True)
        q = plans.lock_key(self._p, self._name)
        row = await (await conn.execute(q.sql, q.params)).fetchone()
        if row is None or not row[0]:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not conn.closed:
                q = plans.unlock_key(self._p, self._name)
                await conn.execute(q.sql, q.params)
                await conn.close()
