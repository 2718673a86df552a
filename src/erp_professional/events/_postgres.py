"""The PostgreSQL backend (psycopg 3, the shared pool of ``erp_professional.connections``)."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg import errors, pq
from psycopg.rows import tuple_row

if TYPE_CHECKING:
    from psycopg.abc import PQGen

from erp_professional.connections import postgres_pool

from . import _pg_plans as plans
from ._core import AuditQuery, Batch, decode_rows
from ._pg_notify import notifier
from ._protocol import BatchHandler, Snapshot, StoreStats
from ._types import AppendResult, RecordedEvent

_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_IDLE = pq.TransactionStatus.IDLE
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_BINARY = (pq.Format.BINARY,) * 12
_UTF8 = b"UTF8"
_NO_STATEMENT = b"26000"  # invalid_sql_statement_name: not prepared (any more)
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement


def _direct_execute() -> Callable[[pq.abc.PGconn], PQGen[list[pq.abc.PGresult]]] | None:
    """psycopg's generator that runs a query sent on libpq to its results, when this
    psycopg has it and the other parts the prepared one-event append relies on
    (``Connection.wait``, ``AsyncConnection.wait``, ``errors.error_from_result``: present
    from psycopg 3.1 on, not all documented as public). Without them, one-event appends
    take the psycopg cursor path, as every other statement does."""
    try:
        from psycopg.generators import execute
    except ImportError:
        return None
    parts = (
        getattr(psycopg.Connection, "wait", None),
        getattr(psycopg.AsyncConnection, "wait", None),
        getattr(errors, "error_from_result", None),
    )
    if not all(callable(part) for part in parts):
        return None
    return cast("Callable[[pq.abc.PGconn], PQGen[list[pq.abc.PGresult]]]", execute)


_EXECUTE = _direct_execute()
DIRECT = _EXECUTE is not None
"""Whether one-event appends may run as the prepared statement on libpq."""


def conninfo(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


# One cursor per pooled connection, reused: creating one costs about as much as sending
# a one-row INSERT through it.
_CURSORS: weakref.WeakKeyDictionary[psycopg.Connection[Any], psycopg.Cursor[Any]] = (
    weakref.WeakKeyDictionary()
)
# The names of the one-event append statements prepared on each pooled connection.
_PREPARED: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[bytes]] = (
    weakref.WeakKeyDictionary()
)


def cursor_of(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """The reusable tuple-row cursor of ``conn``."""
    cur = _CURSORS.get(conn)
    if cur is None or cur.closed:
        cur = _CURSORS[conn] = conn.cursor(row_factory=tuple_row)
    return cur


def prepared_gen(
    pgconn: pq.abc.PGconn,
    statement: tuple[bytes, bytes, tuple[int, ...]],
    values: list[bytes | None],
    known: set[bytes],
) -> PQGen[pq.abc.PGresult]:
    """Prepare the statement on first use, run it; again once if the server lost it."""
    name, sql, types = statement
    execute = _EXECUTE
    assert execute is not None  # callers check DIRECT first
    retried = False
    while True:
        if name not in known:
            pgconn.send_prepare(name, sql, param_types=types)
            prepared: pq.abc.PGresult = (yield from execute(pgconn))[-1]
            if (
                prepared.status == _FATAL_ERROR
                and prepared.error_field(_SQLSTATE) != _ALREADY_PREPARED
            ):
                return prepared
            known.add(name)
        pgconn.send_query_prepared(name, values, param_formats=_BINARY[: len(values)])
        result: pq.abc.PGresult = (yield from execute(pgconn))[-1]
        lost = result.status == _FATAL_ERROR and result.error_field(_SQLSTATE) == _NO_STATEMENT
        if retried or not lost:
            return result
        known.discard(name)  # DEALLOCATE or DISCARD ran on this connection since
        retried = True


def _append_one(conn: psycopg.Connection[Any], step: plans.AppendOne) -> list[tuple[Any, ...]]:
    """A one-event append as a prepared statement with binary values, straight on libpq.

    psycopg's cursor spends more client time on converting the query and dumping eleven
    values than libpq and the network do on the whole statement. The statement runs in
    its own transaction like any autocommit statement (the connection is idle, no BEGIN
    is sent); values it does not take as they are, a client encoding other than UTF-8
    or a connection that must not prepare statements (``prepare_threshold`` None) take
    the psycopg path.
    """
    values = one_event_values_for(conn, step)
    if values is None:
        return _execute(conn, plans.one_event_query(step.prefix, step.batch))
    known = _PREPARED.get(conn)
    if known is None:
        known = _PREPARED[conn] = set()
    statement = plans.one_event_statement(step.prefix, step.batch.expected)
    with conn.lock:
        result = conn.wait(prepared_gen(conn.pgconn, statement, values, known))
    return one_event_rows(result)


def one_event_values_for(
    conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any], step: plans.AppendOne
) -> list[bytes | None] | None:
    """The binary values of a one-event append, or ``None`` where psycopg must send it: a
    psycopg without the parts the direct path uses, a connection in a transaction, one
    that must not prepare statements, a client encoding other than UTF-8, or values the
    prepared statement does not take as they are."""
    pgconn = conn.pgconn
    if (
        DIRECT
        and pgconn.transaction_status == _IDLE
        and conn.prepare_threshold is not None
        and pgconn.parameter_status(b"client_encoding") == _UTF8
    ):
        return plans.one_event_values(step.batch)
    return None


def one_event_rows(result: pq.abc.PGresult) -> list[tuple[Any, ...]]:
    """The inserted (position, version) row, none after a conflict, or the error raised."""
    if result.status == _TUPLES_OK:
        if result.ntuples == 0:
            return []
        position, version = result.get_value(0, 0), result.get_value(0, 1)
        return [(int(cast(bytes, position)), int(cast(bytes, version)))]
    raise errors.error_from_result(result, encoding="utf-8")


def _execute(conn: psycopg.Connection[Any], query: plans.Query) -> list[tuple[Any, ...]]:
    """Run a query through the connection's cursor in autocommit mode."""
    if not conn.autocommit:
        conn.autocommit = True  # the backend's check-in restores it
    cur = cursor_of(conn)
    cur.execute(query.sql, query.params)
    result = cur.pgresult
    return cur.fetchall() if result is not None and result.status == _TUPLES_OK else []


def drive(conn: psycopg.Connection[Any], plan: plans.Plan) -> Any:
    """Run a plan on a connection, every statement on its own (autocommit)."""
    try:
        step = next(plan)
        while True:
            if isinstance(step, plans.Sleep):
                time.sleep(step.seconds)
                step = plan.send([])
                continue
            try:
                if isinstance(step, plans.AppendOne):
                    rows = _append_one(conn, step)
                else:
                    rows = _execute(conn, step)
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
        """A pooled connection, and whether it was in autocommit mode.

        Statements switch it to autocommit when they need to (see :func:`drive`); a
        one-event append does not.
        """
        conn = self._pool.getconn()
        return conn, conn.autocommit

    def _checkin(self, conn: psycopg.Connection[Any], autocommit: bool) -> None:
        try:
            # A broken connection is left as it is: the pool discards it.
            if not conn.closed:
                if conn.pgconn.transaction_status != _IDLE:
                    conn.rollback()
                if conn.autocommit != autocommit:
                    conn.autocommit = autocommit
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        conn, autocommit = self._checkout()
        try:
            if not autocommit:
                conn.autocommit = True
            yield conn
        finally:
            self._checkin(conn, autocommit)

    def _run(self, plan: plans.Plan) -> Any:
        conn, autocommit = self._checkout()  # every append: no context manager generator
        try:
            return drive(conn, plan)
        finally:
            self._checkin(conn, autocommit)

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
