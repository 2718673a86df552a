"""PostgreSQL statements as sans-I/O plans, driven by the sync and the async backend.

A plan is a generator that yields :class:`Query` (answered with the fetched rows) or
:class:`Sleep` steps and returns its result; database errors are thrown into it.

Gap safety: positions come from a sequence, so a reader could see position 7 committed
while position 6 is still in flight. A read first takes ``L`` = the sequence's last
value, *then* the set ``W`` of transactions that currently hold an xid and a
RowExclusiveLock on the streams table. A transaction that drew a position <= L took that
lock (by writing its stream row) and got its xid before drawing it, and keeps both until
it ends, so it has either finished or is in W. Once every transaction of W has ended,
every position <= L is final (committed and visible to the next statement, or rolled back
for good) and the reader exposes up to L. No table lock, no timeout-based gap skipping,
and unrelated transactions (maintenance of the streams table included) never delay it.
"""

# ruff: noqa: S608 - only the validated table prefix is spliced into SQL; values are bound

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors

from ._core import AuditQuery, Batch, expectation_met, metadata_select, replayed
from ._protocol import Snapshot, StoreStats
from ._types import ANY, NO_STREAM, STREAM_EXISTS, AppendResult, WrongExpectedVersion

Row = tuple[Any, ...]
# Text and integer forms decode faster in Python than psycopg's json/uuid/timestamptz loaders.
# The metadata columns folded into one value (NULL for the defaults): see decode_rows.
COLUMNS = (
    "id::text, stream_id, version, position, type, data::text, "
    + metadata_select("postgresql")
    + ", (extract(epoch FROM recorded_at) * 1000000)::int8"
)
log = logging.getLogger("erp_professional.events")


@dataclass(frozen=True, slots=True)
class Query:
    sql: str
    params: Sequence[object] | dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class AppendOne:
    """A one-event append: the stream row update and the insert in one statement.

    A driver runs it as the server-side prepared statement of :func:`one_event_statement`
    with the values of :func:`one_event_values`, or, where that does not apply, as
    :func:`one_event_query`; it is answered like a query, with the inserted row or none.
    """

    prefix: str
    batch: Batch


Step = Query | Sleep | AppendOne
Plan = Generator[Step, list[Row], Any]


def schema(p: str) -> list[str]:
    return [
        f"SELECT pg_advisory_xact_lock(hashtext('erp_professional.events.{p}'))",
        f"CREATE SEQUENCE IF NOT EXISTS {p}events_position",
        f"""CREATE TABLE IF NOT EXISTS {p}events (
            position bigint PRIMARY KEY DEFAULT nextval('{p}events_position'),
            id uuid NOT NULL UNIQUE,
            stream_id text NOT NULL,
            version bigint NOT NULL,
            type text NOT NULL,
            data json NOT NULL,
            correlation_id text,
            causation_id text,
            actor text,
            tenant text,
            schema_version integer NOT NULL,
            headers json NOT NULL,
            recorded_at timestamptz NOT NULL,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            UNIQUE (stream_id, version))""",
        f"ALTER SEQUENCE {p}events_position OWNED BY {p}events.position",
        f"""CREATE INDEX IF NOT EXISTS {p}events_correlation ON {p}events (correlation_id)
            WHERE correlation_id IS NOT NULL""",
        f"CREATE INDEX IF NOT EXISTS {p}events_actor ON {p}events (actor) WHERE actor IS NOT NULL",
        f"""CREATE TABLE IF NOT EXISTS {p}streams (
            stream_id text PRIMARY KEY, version bigint NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {p}snapshots (
            stream_id text PRIMARY KEY, version bigint NOT NULL, type text NOT NULL,
            schema_version integer NOT NULL, state json NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {p}checkpoints (
            name text PRIMARY KEY, position bigint NOT NULL)""",
    ]


def setup_plan(p: str) -> Plan:
    # The tables are created in one transaction, the checkpoints table last: if it exists,
    # everything does, and no DDL lock is taken (it would deadlock with running appends).
    rows = yield Query("SELECT to_regclass(%s) IS NOT NULL", (f"{p}checkpoints",))
    if rows[0][0]:
        return
    yield Query("BEGIN")
    for statement in schema(p):
        yield Query(statement)
    yield Query("COMMIT")


def _stream_cte(p: str, batch: Batch) -> str:
    expected = batch.expected
    if expected is ANY:
        return (
            f"INSERT INTO {p}streams AS s VALUES (%(sid)s, %(n)s) ON CONFLICT (stream_id) "
            "DO UPDATE SET version = s.version + excluded.version RETURNING version"
        )
    if expected is NO_STREAM or expected == 0:
        return (
            f"INSERT INTO {p}streams VALUES (%(sid)s, %(n)s) "
            "ON CONFLICT (stream_id) DO NOTHING RETURNING version"
        )
    if expected is STREAM_EXISTS:
        return (
            f"UPDATE {p}streams SET version = version + %(n)s WHERE stream_id = %(sid)s "
            "RETURNING version"
        )
    return (
        f"UPDATE {p}streams SET version = version + %(n)s "
        "WHERE stream_id = %(sid)s AND version = %(exp)s RETURNING version"
    )


def _stream_params(batch: Batch) -> dict[str, object]:
    return {
        "sid": batch.stream_id,
        "n": len(batch.events),
        "exp": batch.expected if isinstance(batch.expected, int) else None,
    }


def _append_statement(p: str, batch: Batch, version: int | None = None) -> Query:
    """Insert a batch; with ``version`` None the stream row is checked in the same statement."""
    evs = batch.events
    stream = _stream_cte(p, batch) if version is None else "SELECT %(new)s::bigint AS version"
    sql = (
        f"WITH s AS ({stream}), ins AS ("
        f"INSERT INTO {p}events (id, stream_id, version, type, data, correlation_id, "
        "causation_id, actor, tenant, schema_version, headers, recorded_at) "
        "SELECT u.id, %(sid)s, s.version - %(n)s + u.ord, u.type, u.data::json, u.cid, "
        "u.caus, u.actor, u.tenant, u.sv, u.headers::json, u.at "
        # Arrays travel in binary (%b): psycopg's text array dumper escapes element by element.
        "FROM s, unnest(%(ids)b::uuid[], %(types)b::text[], %(data)b::text[], "
        "%(cids)b::text[], %(causes)b::text[], %(actors)b::text[], %(tenants)b::text[], "
        "%(svs)b::int4[], %(headers)b::text[], %(ats)b::timestamptz[]) WITH ORDINALITY "
        "AS u(id, type, data, cid, caus, actor, tenant, sv, headers, at, ord) "
        "ORDER BY u.ord RETURNING position, version) "
    )
    sql += "SELECT position, version FROM ins"
    return Query(
        sql,
        {
            **_stream_params(batch),
            "new": version,
            "ids": [e.id for e in evs],
            "types": [e.type for e in evs],
            "data": [e.data for e in evs],
            "cids": [e.correlation_id for e in evs],
            "causes": [e.causation_id for e in evs],
            "actors": [e.actor for e in evs],
            "tenants": [e.tenant for e in evs],
            "svs": [e.schema_version for e in evs],
            "headers": [e.headers for e in evs],
            "ats": [e.recorded_at for e in evs],
        },
    )


def _one_event_sql(
    p: str, expected: object, stream: str, version: str, event_id: str, columns: str
) -> str:
    """A one-event append: the stream row update, then the event row taking the stream's
    new version. The arguments after ``expected`` are placeholders: the stream id, the
    expected version (used when it is exact), the event id, and the event's other
    columns from ``type`` to ``recorded_at``."""
    if expected is ANY:
        update = (
            f"INSERT INTO {p}streams AS s VALUES ({stream}, 1) ON CONFLICT (stream_id) "
            "DO UPDATE SET version = s.version + 1 RETURNING stream_id, version"
        )
    elif expected is NO_STREAM or expected == 0:
        update = (
            f"INSERT INTO {p}streams VALUES ({stream}, 1) "
            "ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id, version"
        )
    elif expected is STREAM_EXISTS:
        update = (
            f"UPDATE {p}streams SET version = version + 1 WHERE stream_id = {stream} "
            "RETURNING stream_id, version"
        )
    else:
        update = (
            f"UPDATE {p}streams SET version = version + 1 "
            f"WHERE stream_id = {stream} AND version = {version} RETURNING stream_id, version"
        )
    return (
        f"WITH s AS ({update}) "
        f"INSERT INTO {p}events (id, stream_id, version, type, data, correlation_id, "
        "causation_id, actor, tenant, schema_version, headers, recorded_at) "
        f"SELECT {event_id}, s.stream_id, s.version, {columns} FROM s RETURNING position, version"
    )


def one_event_query(p: str, batch: Batch) -> Query:
    """Insert a single event with plain parameters: arrays cost more to send than one row."""
    e = batch.events[0]
    expected = batch.expected
    columns = "%s, %s::json, %s, %s, %s, %s, %s, %s::json, %s"
    sql = _one_event_sql(p, expected, "%s", "%s", "%s", columns)
    head: tuple[object, ...] = (
        (batch.stream_id, expected)
        if isinstance(expected, int) and expected > 0
        else (batch.stream_id,)
    )
    return Query(sql, (*head, e.id, *e[1:10]))


# The prepared form of a one-event append: parameter types are fixed, and every value is
# sent in binary (text as its UTF-8 bytes, the id as 16 bytes, integers and the time as
# big-endian integers), so the server parses none of them but the JSON it validates.
_TEXT, _UUID, _JSON, _INT4, _INT8, _TIMESTAMPTZ = 25, 2950, 114, 23, 20, 1184
_ONE_TYPES = (_TEXT, _UUID, _TEXT, _JSON, _TEXT, _TEXT, _TEXT, _TEXT, _INT4, _JSON, _TIMESTAMPTZ)
# Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
_PG_EPOCH_MICROS = 946_684_800_000_000
_INT4_RANGE = range(-(2**31), 2**31)
_INT8_MAX = 2**63
_STATEMENTS: dict[tuple[str, str], tuple[bytes, bytes, tuple[int, ...]]] = {}


def _one_kind(expected: object) -> str:
    if expected is ANY:
        return "any"
    if expected is NO_STREAM or expected == 0:
        return "new"
    if expected is STREAM_EXISTS:
        return "exists"
    return "exact"


def one_event_statement(p: str, expected: object) -> tuple[bytes, bytes, tuple[int, ...]]:
    """Name, SQL and parameter types of the prepared one-event append for ``expected``.

    Parameters: $1 the stream id, $2 to $11 the event's columns (id, type, data,
    correlation_id, causation_id, actor, tenant, schema_version, headers, recorded_at)
    and, for an exact expected version, $12 that version.
    """
    kind = _one_kind(expected)
    found = _STATEMENTS.get((p, kind))
    if found is not None:
        return found
    columns = ", ".join(f"${i}" for i in range(3, 12))
    sql = _one_event_sql(p, expected, "$1", "$12", "$2", columns)
    types = (*_ONE_TYPES, _INT8) if kind == "exact" else _ONE_TYPES
    found = _STATEMENTS[(p, kind)] = (f"erp_events_{p}append_{kind}".encode(), sql.encode(), types)
    return found


def one_event_values(batch: Batch) -> list[bytes | None] | None:
    """The binary parameters of :func:`one_event_statement` for a one-event batch.

    ``None`` for values the prepared form does not take as they are (text that is not a
    ``str`` or holds NUL, a schema version that is not a 4-byte ``int``, an expected
    version beyond 8 bytes): :func:`one_event_query` then sends them, and the database
    answers them exactly as before.
    """
    e = batch.events[0]
    texts = e[3:7]  # correlation_id, causation_id, actor, tenant
    for text in texts:
        if text is not None and (text.__class__ is not str or "\x00" in text):
            return None
    schema_version = e.schema_version
    if schema_version.__class__ is not int or schema_version not in _INT4_RANGE:
        return None
    try:
        values: list[bytes | None] = [
            batch.stream_id.encode(),
            e.id.bytes,
            e.type.encode(),
            e.data.encode(),
            *[None if text is None else text.encode() for text in texts],
            schema_version.to_bytes(4, "big", signed=True),
            e.headers.encode(),
            (e.recorded_micros - _PG_EPOCH_MICROS).to_bytes(8, "big", signed=True),
        ]
    except UnicodeEncodeError:
        return None
    expected = batch.expected
    if isinstance(expected, int) and expected > 0:  # an exact version: parameter $12
        if expected.__class__ is not int or expected >= _INT8_MAX:
            return None
        values.append(expected.to_bytes(8, "big"))
    return values


def _lookup(p: str, batches: Sequence[Batch]) -> Plan:
    ids = [e.id for b in batches for e in b.events]
    rows = yield Query(
        f"SELECT id, stream_id, version, position FROM {p}events WHERE id = ANY(%s)",
        (ids,),
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _versions(p: str, batches: Sequence[Batch]) -> Plan:
    rows = yield Query(
        f"SELECT stream_id, version FROM {p}streams WHERE stream_id = ANY(%s)",
        ([b.stream_id for b in batches],),
    )
    found = {r[0]: int(r[1]) for r in rows}
    return {b.stream_id: found.get(b.stream_id, 0) for b in batches}


def _result(batch: Batch, rows: list[Row]) -> AppendResult:
    if len(rows) == 1:
        ((position, version),) = rows
        return AppendResult(batch.stream_id, int(version), (int(position),))
    rows.sort()
    return AppendResult(batch.stream_id, int(rows[-1][1]), tuple(int(r[0]) for r in rows))


class _Conflict(Exception):
    pass


def append_plan(p: str, batches: Sequence[Batch]) -> Plan:
    """Append atomically; one statement (autocommit) for the usual single-stream case."""
    ordered = sorted(batches, key=lambda b: b.stream_id)
    single = len(ordered) == 1 and bool(ordered[0].events)
    current_versions: dict[str, int] = {}
    for _attempt in range(5):
        if not single:
            yield Query("BEGIN")
        try:
            if single:
                batch = ordered[0]
                rows = yield (
                    AppendOne(p, batch) if len(batch.events) == 1 else _append_statement(p, batch)
                )
                if not rows:
                    raise _Conflict
                return [_result(batch, rows)]
            # Lock and check the stream rows in a fixed order (no deadlocks), then insert
            # in the caller's order so positions follow it.
            versions: dict[str, int] = {}
            for batch in ordered:
                if batch.events:
                    rows = yield Query(_stream_cte(p, batch), _stream_params(batch))
                    if not rows:
                        raise _Conflict
                    versions[batch.stream_id] = int(rows[0][0])
                    continue
                rows = yield Query(
                    f"SELECT version FROM {p}streams WHERE stream_id = %s FOR SHARE",
                    (batch.stream_id,),
                )
                versions[batch.stream_id] = int(rows[0][0]) if rows else 0
                if not expectation_met(batch.expected, versions[batch.stream_id]):
                    raise _Conflict
            results: list[AppendResult] = []
            for batch in batches:
                if not batch.events:
                    results.append(AppendResult(batch.stream_id, versions[batch.stream_id], ()))
                    continue
                rows = yield _append_statement(p, batch, versions[batch.stream_id])
                results.append(_result(batch, rows))
            yield Query("COMMIT")
            return results
        except (_Conflict, errors.UniqueViolation) as exc:
            if not single:
                yield Query("ROLLBACK")
            current_versions = yield from _versions(p, batches)
            found = yield from _lookup(p, batches)
            again = replayed(batches, found, current_versions)
            if again is not None:
                return again
            if isinstance(exc, errors.UniqueViolation):
                raise
            for batch in batches:
                actual = current_versions[batch.stream_id]
                if not expectation_met(batch.expected, actual):
                    raise WrongExpectedVersion(batch.stream_id, batch.expected, actual) from None
        except BaseException:
            if not single:
                yield Query("ROLLBACK")
            raise
    first = ordered[0]
    raise WrongExpectedVersion(first.stream_id, first.expected, current_versions[first.stream_id])


def horizon_plan(p: str, after: int, wait: float) -> Plan:
    """The highest position up to which every event is final (see the module docstring).

    Returns ``None`` when nothing beyond ``after`` was drawn, or when writers that may
    hold such positions are still open after ``wait`` seconds.
    """
    rows = yield Query(f"SELECT last_value, is_called FROM {p}events_position")
    last = int(rows[0][0]) if rows[0][1] else 0
    if last <= after:
        return None
    # Writers that may hold positions <= last: transactions with an xid that hold a
    # RowExclusiveLock on the streams table now (every append takes it, by writing its
    # stream row, before drawing positions, and keeps it to the end). Other modes are
    # maintenance (ANALYZE, VACUUM) or readers, which draw no positions.
    rows = yield Query(
        "SELECT DISTINCT x.transactionid::text FROM pg_locks r JOIN pg_locks x "
        "ON x.pid = r.pid AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' "
        "AND x.granted WHERE r.locktype = 'relation' AND r.relation = %s::regclass "
        "AND r.mode = 'RowExclusiveLock' "
        "AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (f"{p}streams",),
    )
    pending = [r[0] for r in rows]
    delay = 0.0005
    waited = 0.0
    while pending:
        if waited >= wait:
            return None
        yield Sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.05)
        rows = yield Query(
            "SELECT transactionid::text FROM pg_locks WHERE locktype = 'transactionid' "
            "AND mode = 'ExclusiveLock' AND granted AND transactionid::text = ANY(%s)",
            (pending,),
        )
        pending = [r[0] for r in rows]
    return last


def _range_query(
    p: str,
    after: int,
    upto: int,
    limit: int | None,
    types: tuple[str, ...] | None,
    prefix: str | None,
) -> Query:
    sql = f"SELECT {COLUMNS} FROM {p}events WHERE position > %s AND position <= %s"
    params: list[object] = [after, upto]
    if types is not None:
        sql += " AND type = ANY(%s)"
        params.append(list(types))
    if prefix is not None:
        sql += " AND starts_with(stream_id, %s)"
        params.append(prefix)
    sql += " ORDER BY position"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return Query(sql, params)


def read_all_plan(
    p: str,
    after: int,
    limit: int | None,
    types: tuple[str, ...] | None,
    prefix: str | None,
    wait: float = 5.0,
    known_safe: int = 0,
) -> Plan:
    """Events after ``after`` up to a safe horizon; returns (rows, horizon, verified).

    ``known_safe`` is a horizon verified earlier (final forever): a page that fills up
    below it needs no new horizon, which keeps paging through history cheap. When no
    horizon beyond ``after`` can be verified now, the result is ``([], after, False)``.
    """
    if limit is not None and known_safe > after:
        rows = yield _range_query(p, after, known_safe, limit, types, prefix)
        if len(rows) == limit:
            return rows, known_safe, True
    horizon = yield from horizon_plan(p, after, wait)
    if horizon is None:
        return [], after, False
    rows = yield _range_query(p, after, horizon, limit, types, prefix)
    return rows, horizon, True


def read_stream_query(
    p: str, stream_id: str, from_version: int, backwards: bool, limit: int | None
) -> Query:
    params: list[object] = [stream_id]
    if backwards:
        cond = "" if from_version == 0 else " AND version <= %s"
        order = "DESC"
    else:
        cond = " AND version >= %s"
        order = "ASC"
    if cond:
        params.append(from_version)
    sql = f"SELECT {COLUMNS} FROM {p}events WHERE stream_id = %s{cond} ORDER BY version {order}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return Query(sql, params)


def audit_query(p: str, query: AuditQuery) -> Query:
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (
        ("actor", query.actor),
        ("correlation_id", query.correlation_id),
        ("stream_id", query.stream_id),
        ("tenant", query.tenant),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if query.since is not None:
        clauses.append("recorded_at >= %s")
        params.append(query.since)
    if query.until is not None:
        clauses.append("recorded_at < %s")
        params.append(query.until)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    sql = f"SELECT {COLUMNS} FROM {p}events{where} ORDER BY position"
    if query.limit is not None:
        sql += " LIMIT %s"
        params.append(query.limit)
    return Query(sql, params)


def stream_version_query(p: str, stream_id: str) -> Query:
    return Query(f"SELECT version FROM {p}streams WHERE stream_id = %s", (stream_id,))


def stats_query(p: str) -> Query:
    return Query(
        f"SELECT (SELECT count(*) FROM {p}events), (SELECT count(*) FROM {p}streams), "
        f"(SELECT COALESCE(max(position), 0) FROM {p}events), "
        f"(SELECT count(*) FROM {p}snapshots)"
    )


def to_stats(row: Row) -> StoreStats:
    return StoreStats(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def save_snapshot_query(p: str, snapshot: Snapshot, state_json: str) -> Query:
    return Query(
        f"INSERT INTO {p}snapshots VALUES (%s, %s, %s, %s, %s::json) ON CONFLICT (stream_id) "
        "DO UPDATE SET version = excluded.version, type = excluded.type, "
        "schema_version = excluded.schema_version, state = excluded.state",
        (snapshot.stream_id, snapshot.version, snapshot.type, snapshot.schema_version, state_json),
    )


def load_snapshot_query(p: str, stream_id: str) -> Query:
    return Query(
        f"SELECT stream_id, version, type, schema_version, state::text FROM {p}snapshots "
        "WHERE stream_id = %s",
        (stream_id,),
    )


def delete_snapshots_query(p: str, prefix: str | None) -> Query:
    if prefix is None:
        return Query(f"DELETE FROM {p}snapshots RETURNING 1")
    return Query(
        f"DELETE FROM {p}snapshots WHERE starts_with(stream_id, %s) RETURNING 1",
        (prefix,),
    )


def checkpoint_query(p: str, name: str) -> Query:
    return Query(f"SELECT position FROM {p}checkpoints WHERE name = %s", (name,))


def save_checkpoint_query(p: str, name: str, position: int) -> Query:
    return Query(
        f"INSERT INTO {p}checkpoints VALUES (%s, %s) ON CONFLICT (name) "
        "DO UPDATE SET position = excluded.position",
        (name, position),
    )


def reset_checkpoint_query(p: str, name: str) -> Query:
    return Query(f"DELETE FROM {p}checkpoints WHERE name = %s", (name,))


def last_position_query(p: str) -> Query:
    return Query(f"SELECT COALESCE(max(position), 0) FROM {p}events")


def lock_key(p: str, name: str) -> Query:
    return Query("SELECT pg_try_advisory_lock(hashtext(%s))", (f"{p}projection:{name}",))


def unlock_key(p: str, name: str) -> Query:
    return Query("SELECT pg_advisory_unlock(hashtext(%s))", (f"{p}projection:{name}",))
