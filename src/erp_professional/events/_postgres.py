"""The PostgreSQL backend (psycopg 3, the shared pool of ``erp_professional.connections``)."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from erp_professional.connections import postgres_pool

from . import _pg_plans as plans
from ._core import AuditQuery, Batch, decode_rows
from ._pg_notify import notifier
from ._protocol import BatchHandler, Snapshot, StoreStats
from ._types import AppendResult, RecordedEvent

_TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK
_IDLE = psycopg.pq.TransactionStatus.IDLE


def conninfo(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


# One cursor per pooled connection, reused: creating one costs about as much as sending
# a one-row INSERT through it.
_CURSORS: weakref.WeakKeyDictionary[psycopg.Connection[Any], psycopg.Cursor[Any]] = (
    weakref.WeakKeyDictionary()
)


def cursor_of(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """The reusable tuple-row cursor of ``conn``."""
    cur = _CURSORS.get(conn)
    if cur is None or cur.closed:
        cur = _CURSORS[conn] = conn.cursor(row_factory=tuple_row)
    return cur


def drive(conn: psycopg.Connection[Any], plan: plans.Plan) -> Any:
    """Run a plan on a connection in autocommit mode."""
    cur = cursor_of(conn)
    try:
        step = next(plan)
        while True:
            if isinstance(step, plans.Sleep):
                time.sleep(step.seconds)
                step = plan.send([])
                continue
            try:
                cur.execute(step.sql, step.params)
                result = cur.pgresult
                rows = cur.fetchall() if result is not None and result.status == _TUPLES_OK else []
            except psycopg.Error as exc:
                step = plan.throw(exc)
                continue
            step = plan.send(rows)
    except StopIteration as stop:
        return stop.value


class PgWaiter:
    """LISTEN on a dedicated connection; queued notifications are never lost between polls."""

    def __init__(self, url: str, channel: str) -> None:
        self._conn = psycopg.connect(conninfo(url), autocommit=True)
        self._conn.execute(f"LISTEN {channel}")

    def mark(self) -> None:
        return None

    def wait(self, timeout: float) -> None:
        for _ in self._conn.notifies(timeout=timeout, stop_after=1):
            pass

    def close(self) -> None:
        self._conn.close()


class PostgresBackend:
    """Events in PostgreSQL: concurrent writers, no table lock, gap-safe readers."""

    def __init__(self, url: str, prefix: str, notify: bool = True) -> None:
        self._url = url
        self._p = prefix
        self._safe = 0  # highest horizon found so far: positions up to it are final
        self._notifier = notifier(conninfo(url), f"{prefix}events") if notify else None
        self._pool = postgres_pool(url)

    def _checkout(self) -> tuple[psycopg.Connection[Any], bool]:
        """A pooled connection in autocommit mode, and whether it had to be switched."""
        conn = self._pool.getconn()
        switched = not conn.autocommit
        if switched:
            try:
                conn.autocommit = True
            except BaseException:
                self._pool.putconn(conn)
                raise
        return conn, switched

    def _checkin(self, conn: psycopg.Connection[Any], switched: bool) -> None:
        try:
            # A broken connection is left as it is: the pool discards it.
            if not conn.closed:
                if conn.pgconn.transaction_status != _IDLE:
                    conn.rollback()
                if switched:
                    conn.autocommit = False
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        conn, switched = self._checkout()
        try:
            yield conn
        finally:
            self._checkin(conn, switched)

    def _run(self, plan: plans.Plan) -> Any:
        conn, switched = self._checkout()  # every append: no context manager generator
        try:
            return drive(conn, plan)
        finally:
            self._checkin(conn, switched)

    def _fetch(self, query: plans.Query) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            cur = cursor_of(conn)
            cur.execute(query.sql, query.params)
            return cur.fetchall() if cur.description is not None else []

    def setup(self) -> None:
        self._run(plans.setup_plan(self._p))

    def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        result: list[AppendResult] = self._run(plans.append_plan(self._p, batches))
        if self._notifier is not None and any(b.events for b in batches):
            self._notifier.request()
        return result

    def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        query = plans.read_stream_query(self._p, stream_id, from_version, backwards, limit)
        return decode_rows(self._fetch(query))

    def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]:
        plan = plans.read_all_plan(self._p, after, limit, types, prefix, wait, self._safe)
        rows, horizon, verified = self._run(plan)
        if verified:
            self._safe = max(self._safe, int(horizon))
        return decode_rows(rows), int(horizon)

    def audit(self, query: AuditQuery) -> list[RecordedEvent]:
        return decode_rows(self._fetch(plans.audit_query(self._p, query)))

    def stream_version(self, stream_id: str) -> int:
        rows = self._fetch(plans.stream_version_query(self._p, stream_id))
        return int(rows[0][0]) if rows else 0

    def stats(self) -> StoreStats:
        return plans.to_stats(self._fetch(plans.stats_query(self._p))[0])

    def waiter(self) -> PgWaiter:
        return PgWaiter(self._url, f"{self._p}events")

    def save_snapshot(self, snapshot: Snapshot) -> None:
        state = json.dumps(snapshot.state, allow_nan=False)
        self._fetch(plans.save_snapshot_query(self._p, snapshot, state))

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        rows = self._fetch(plans.load_snapshot_query(self._p, stream_id))
        if not rows:
            return None
        r = rows[0]
        return Snapshot(r[0], int(r[1]), r[2], int(r[3]), json.loads(r[4]))

    def delete_snapshots(self, stream_prefix: str | None) -> int:
        return len(self._fetch(plans.delete_snapshots_query(self._p, stream_prefix)))

    def checkpoint(self, name: str) -> int:
        rows = self._fetch(plans.checkpoint_query(self._p, name))
        return int(rows[0][0]) if rows else 0

    def handle(self, name: str, events: Sequence[RecordedEvent], handler: BatchHandler) -> None:
        with self._pool.connection() as conn, conn.transaction():
            handler(events, conn)
            if events:
                q = plans.save_checkpoint_query(self._p, name, events[-1].position)
                conn.execute(q.sql, q.params)

    def reset_checkpoint(self, name: str) -> None:
        self._fetch(plans.reset_checkpoint_query(self._p, name))

    def last_position(self) -> int:
        return int(self._fetch(plans.last_position_query(self._p))[0][0])

    def leader(self, name: str) -> PgLeader:
        return PgLeader(self._url, self._p, name)

    def close(self) -> None:
        return None


class PgLeader:
    """A session advisory lock on a dedicated connection; it dies with the connection."""

    def __init__(self, url: str, prefix: str, name: str) -> None:
        self._url = url
        self._p = prefix
        self._name = name
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None and not self._conn.closed:
            return True
        conn = psycopg.connect(conninfo(self._url), autocommit=True)
        q = plans.lock_key(self._p, self._name)
        row = conn.execute(q.sql, q.params).fetchone()
        if row is None or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not conn.closed:
                q = plans.unlock_key(self._p, self._name)
                conn.execute(q.sql, q.params)
                conn.close()
