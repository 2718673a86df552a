"""The SQLite backend: WAL, one writer at a time (BEGIN IMMEDIATE with retry), any readers."""

# ruff: noqa: S608 - only the validated table prefix is spliced into SQL; values are bound

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import NamedTuple

from erp_professional.connections import sqlite_connect, sqlite_path

from ._core import (
    COLUMNS,
    AuditQuery,
    Batch,
    decode_rows,
    expectation_met,
    metadata_select,
    replayed,
    to_micros,
    uuid_from_bytes,
)
from ._protocol import (
    BatchHandler,
    Leader,
    LocalLeader,
    Signal,
    SignalWaiter,
    Snapshot,
    StoreStats,
    local_lock,
)
from ._sqlite_support import HAVE_FLOCK, FileLeader, schema
from ._types import AppendResult, RecordedEvent, WrongExpectedVersion

_SIGNALS: dict[str, Signal] = {}
_SIGNALS_LOCK = threading.Lock()


def _signal_for(path: str) -> Signal:
    key = path if path == ":memory:" else os.path.realpath(path)
    with _SIGNALS_LOCK:
        signal = _SIGNALS.get(key)
        if signal is None:
            signal = _SIGNALS[key] = Signal()
        return signal


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class _Shape(NamedTuple):
    """A shape of INSERT: its columns, the VALUES of its k-th row, how many values each row
    binds and how many are bound once per statement, ahead of the rows'."""

    columns: str
    row: Callable[[int], str]
    width: int
    head: int


_Head = tuple[str, int, int]  # stream id, first version, time: bound once per statement

# Positions are not bound: the rowid SQLite assigns is the largest one in the table plus
# one, which is what an explicit position would be (positions are assigned under the
# write lock), and it spares the check per row that an explicit rowid is still free.
_PLAIN_COLUMNS = "id, stream_id, version, type, data, schema_version, headers, recorded_at"
# Events with the default metadata, any streams.
_PLAIN = _Shape(_PLAIN_COLUMNS, lambda k: "(?,?,?,?,?,1,'{}',?)", 6, 0)
# Any events.
_FULL = _Shape(COLUMNS.replace(" position,", ""), lambda k: "(" + ",".join("?" * 12) + ")", 12, 0)
# Several events of one stream with the default metadata (the usual batch): the stream,
# its first version and the time are bound once; each row binds its id, type and data.
_ONE_STREAM = _Shape(
    _PLAIN_COLUMNS,
    lambda k: f"(?{3 * k + 4},?1,?2+{k},?{3 * k + 5},?{3 * k + 6},1,'{{}}',?3)",
    3,
    3,
)


# What reads select: see decode_rows.
_SELECT = (
    "id, stream_id, version, position, type, data, " + metadata_select("sqlite") + ", recorded_at"
)

_PLAIN_META = (None, None, None, None, 1, "{}")  # Prepared[3:9] without metadata


def _rows(batch: Batch, version: int) -> tuple[_Shape, list[object], _Head | None]:
    """How to INSERT a batch: the shape, the flat values of its rows (assembled column by
    column) and the values bound once per statement."""
    events = batch.events
    n = len(events)
    if n == 1:  # a single append: no columns to transpose
        (e,) = events
        head = [e.id.int.to_bytes(16), batch.stream_id, version, e.type, e.data]
        if e[3:9] == _PLAIN_META:
            return _PLAIN, [*head, e.recorded_micros], None
        return _FULL, [*head, *e[3:9], e.recorded_micros], None
    ids, types, data, cids, causes, actors, tenants, svs, headers, _, micros = zip(
        *events, strict=True
    )
    raw_ids = [i.int.to_bytes(16) for i in ids]
    if (
        headers.count("{}") == n
        and svs.count(1) == n
        and cids.count(None) == n
        and causes.count(None) == n
        and actors.count(None) == n
        and tenants.count(None) == n
        and micros.count(micros[0]) == n
    ):
        flat: list[object] = [None] * (n * 3)
        flat[0::3] = raw_ids
        flat[1::3] = types
        flat[2::3] = data
        return _ONE_STREAM, flat, (batch.stream_id, version, micros[0])
    width = _FULL.width
    flat = [None] * (n * width)
    flat[0::width] = raw_ids
    flat[1::width] = repeat(batch.stream_id, n)
    flat[2::width] = range(version, version + n)
    flat[3::width] = types
    flat[4::width] = data
    for column, values in enumerate((cids, causes, actors, tenants, svs, headers, micros), 5):
        flat[column::width] = values
    return _FULL, flat, None


class SQLiteBackend:
    """Events in one SQLite file; processes sharing the file see each other's commits."""

    def __init__(
        self,
        url: str,
        prefix: str,
        busy_retry_seconds: float = 60.0,
        synchronous: str = "normal",
    ) -> None:
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        self._url = url
        self._p = prefix
        self._path = sqlite_path(url)
        self.signal = _signal_for(self._path)
        self._busy_retry = busy_retry_seconds
        self._write = sqlite_connect(url)
        if self._path != ":memory:":
            self._write.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        self._read = self._write if self._path == ":memory:" else sqlite_connect(url)
        # Multi-row INSERT sizes: a few fixed ones keep the statement cache small.
        limit = self._write.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._chunks = [n for n in (256, 64, 16, 4, 1) if n * _FULL.width <= limit]
        self._statements: dict[tuple[_Shape, int], str] = {}
        self._write_lock = threading.RLock()
        self._read_lock = self._write_lock if self._read is self._write else threading.Lock()

    # -- transactions ------------------------------------------------------------------
    def _begin(self) -> None:
        deadline = time.monotonic() + self._busy_retry
        delay = 0.001
        while True:
            try:
                self._write.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.05)

    def _rollback(self) -> None:
        if self._write.in_transaction:
            self._write.execute("ROLLBACK")

    def setup(self) -> None:
        with self._write_lock:
            self._begin()
            try:
                for statement in schema(self._p).split(";"):
                    if statement.strip():
                        self._write.execute(statement)
                self._write.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    # -- append --------------------------------------------------------------------------
    def _lookup(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int, int]]:
        found: dict[uuid.UUID, tuple[str, int, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = [i.bytes for i in ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT id, stream_id, version, position FROM {self._p}events "
                f"WHERE id IN ({marks})"
            )
            for row in self._write.execute(sql, chunk):
                found[uuid_from_bytes(row[0])] = (row[1], row[2], row[3])
        return found

    def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        conn = self._write
        with self._write_lock:
            self._begin()
            try:
                results = self._append_locked(batches)
            except _Retry as retry:
                self._rollback()
                return retry.results
            except BaseException:
                self._rollback()
                raise
            conn.execute("COMMIT")
        if any(b.events for b in batches):
            self.signal.bump()
        return results

    def _append_locked(self, batches: Sequence[Batch]) -> list[AppendResult]:
        p = self._p
        conn = self._write
        current: dict[str, int] = {}
        # The stream versions and the last position, in one statement for one stream.
        position = None
        for b in batches:
            if position is None:
                row = conn.execute(
                    f"SELECT (SELECT COALESCE(MAX(version), 0) FROM {p}events "
                    f"WHERE stream_id = ?), (SELECT COALESCE(MAX(position), 0) FROM {p}events)",
                    (b.stream_id,),
                ).fetchone()
                position = row[1]
            else:
                row = conn.execute(
                    f"SELECT COALESCE(MAX(version), 0) FROM {p}events WHERE stream_id = ?",
                    (b.stream_id,),
                ).fetchone()
            current[b.stream_id] = row[0]
        conflict = next(
            (b for b in batches if not expectation_met(b.expected, current[b.stream_id])), None
        )
        if conflict is not None:
            self._replay_or_raise(
                batches,
                current,
                WrongExpectedVersion(
                    conflict.stream_id, conflict.expected, current[conflict.stream_id]
                ),
            )
        if position is None:  # nothing to append to
            return []
        results = []
        # Rows go in append order (SQLite numbers them as they come); consecutive batches
        # of the same shape share statements, except batches of one stream's events.
        groups: list[tuple[_Shape, list[object], _Head | None]] = []
        for b in batches:
            version = current[b.stream_id]
            n = len(b.events)
            if n:
                shape, rows, head = _rows(b, version + 1)
                if groups and groups[-1][0] is shape and head is None:
                    groups[-1][1].extend(rows)
                else:
                    groups.append((shape, rows, head))
            results.append(
                AppendResult(b.stream_id, version + n, tuple(range(position + 1, position + n + 1)))
            )
            position += n
        try:
            last = None
            for shape, rows, head in groups:
                last = self._insert(shape, rows, head)
        except sqlite3.IntegrityError as exc:
            self._replay_or_raise(batches, current, exc)
        if last is not None and last != position:  # pragma: no cover - SQLite's documented rule
            raise RuntimeError(f"SQLite numbered the events up to {last}, expected {position}")
        return results

    def _insert(self, shape: _Shape, flat: list[object], head: _Head | None) -> int | None:
        """INSERT the rows of ``flat`` with few multi-row statements of a few fixed sizes;
        the position of the last row. ``head`` is (stream id, first version, time) for
        :data:`_ONE_STREAM`, else ``None``."""
        width = shape.width
        rows = len(flat) // width
        done = 0
        cursor = None
        for size in self._chunks:
            while rows - done >= size:
                sql = self._statements.get((shape, size))
                if sql is None:
                    sql = f"INSERT INTO {self._p}events ({shape.columns}) VALUES " + ",".join(
                        map(shape.row, range(size))
                    )
                    self._statements[(shape, size)] = sql
                values = flat[done * width : (done + size) * width]
                if head is not None:
                    values[:0] = (head[0], head[1] + done, head[2])
                cursor = self._write.execute(sql, values)
                done += size
        return None if cursor is None else cursor.lastrowid

    def _replay_or_raise(
        self, batches: Sequence[Batch], current: dict[str, int], exc: Exception
    ) -> None:
        found = self._lookup([e.id for b in batches for e in b.events])
        again = replayed(batches, found, current)
        if again is not None:
            raise _Retry(again)
        raise exc

    # -- reads ----------------------------------------------------------------------------
    def _select(self, sql: str, params: Iterable[object]) -> list[RecordedEvent]:
        with self._read_lock:
            # Straight from the cursor: each row's tuple is freed once decoded, which keeps
            # the garbage collector's young generation (and its passes) small.
            return decode_rows(self._read.execute(sql, tuple(params)))

    def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        p = self._p
        if backwards:
            cond = "" if from_version == 0 else " AND version <= ?"
            order = "DESC"
        else:
            cond = " AND version >= ?"
            order = "ASC"
        params: list[object] = [stream_id]
        if cond:
            params.append(from_version)
        params.append(-1 if limit is None else limit)
        return self._select(
            f"SELECT {_SELECT} FROM {p}events WHERE stream_id = ?{cond} "
            f"ORDER BY version {order} LIMIT ?",
            params,
        )

    def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]:
        p = self._p
        sql = f"SELECT {_SELECT} FROM {p}events WHERE position > ?"
        params: list[object] = [after]
        if types is not None:
            sql += f" AND type IN ({','.join('?' * len(types))})"
            params.extend(types)
        if prefix is not None:
            sql += " AND substr(stream_id, 1, ?) = ?"
            params.extend((len(prefix), prefix))
        sql += " ORDER BY position LIMIT ?"
        params.append(-1 if limit is None else limit)
        with self._read_lock:
            conn = self._read
            conn.execute("BEGIN")
            try:
                events = decode_rows(conn.execute(sql, params))
                horizon = conn.execute(
                    f"SELECT COALESCE(MAX(position), 0) FROM {p}events"
                ).fetchone()[0]
            finally:
                conn.execute("COMMIT")
        return events, horizon

    def audit(self, query: AuditQuery) -> list[RecordedEvent]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("actor", query.actor),
            ("correlation_id", query.correlation_id),
            ("stream_id", query.stream_id),
            ("tenant", query.tenant),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.since is not None:
            clauses.append("recorded_at >= ?")
            params.append(to_micros(query.since))
        if query.until is not None:
            clauses.append("recorded_at < ?")
            params.append(to_micros(query.until))
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        params.append(-1 if query.limit is None else query.limit)
        return self._select(
            f"SELECT {_SELECT} FROM {self._p}events{where} ORDER BY position LIMIT ?",
            params,
        )

    def stream_version(self, stream_id: str) -> int:
        with self._read_lock:
            row = self._read.execute(
                f"SELECT COALESCE(MAX(version), 0) FROM {self._p}events WHERE stream_id = ?",
                (stream_id,),
            ).fetchone()
        return int(row[0])

    def stats(self) -> StoreStats:
        p = self._p
        with self._read_lock:
            row = self._read.execute(
                f"SELECT COUNT(*), COUNT(DISTINCT stream_id), COALESCE(MAX(position), 0), "
                f"(SELECT COUNT(*) FROM {p}snapshots) FROM {p}events"
            ).fetchone()
        return StoreStats(row[0], row[1], row[2], row[3])

    def waiter(self) -> SignalWaiter:
        return SignalWaiter(self.signal)

    # -- snapshots and checkpoints -------------------------------------------------------
    def save_snapshot(self, snapshot: Snapshot) -> None:
        import json

        with self._write_lock:
            self._begin()
            try:
                self._write.execute(
                    f"INSERT INTO {self._p}snapshots VALUES (?,?,?,?,?) "
                    "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, "
                    "type = excluded.type, schema_version = excluded.schema_version, "
                    "state = excluded.state",
                    (
                        snapshot.stream_id,
                        snapshot.version,
                        snapshot.type,
                        snapshot.schema_version,
                        json.dumps(snapshot.state, allow_nan=False),
                    ),
                )
                self._write.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        import json

        with self._read_lock:
            row = self._read.execute(
                f"SELECT stream_id, version, type, schema_version, state FROM {self._p}snapshots "
                "WHERE stream_id = ?",
                (stream_id,),
            ).fetchone()
        if row is None:
            return None
        return Snapshot(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def delete_snapshots(self, stream_prefix: str | None) -> int:
        with self._write_lock:
            if stream_prefix is None:
                cur = self._write.execute(f"DELETE FROM {self._p}snapshots")
            else:
                cur = self._write.execute(
                    f"DELETE FROM {self._p}snapshots WHERE substr(stream_id, 1, ?) = ?",
                    (len(stream_prefix), stream_prefix),
                )
            return cur.rowcount

    def checkpoint(self, name: str) -> int:
        with self._read_lock:
            row = self._read.execute(
                f"SELECT position FROM {self._p}checkpoints WHERE name = ?",
                (name,),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def handle(self, name: str, events: Sequence[RecordedEvent], handler: BatchHandler) -> None:
        with self._write_lock:
            self._begin()
            try:
                handler(events, self._write)
                if events:
                    self._write.execute(
                        f"INSERT INTO {self._p}checkpoints VALUES (?, ?) ON CONFLICT (name) "
                        "DO UPDATE SET position = excluded.position",
                        (name, events[-1].position),
                    )
                self._write.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def reset_checkpoint(self, name: str) -> None:
        with self._write_lock:
            self._write.execute(
                f"DELETE FROM {self._p}checkpoints WHERE name = ?",
                (name,),
            )

    def last_position(self) -> int:
        with self._read_lock:
            row = self._read.execute(
                f"SELECT COALESCE(MAX(position), 0) FROM {self._p}events"
            ).fetchone()
        return int(row[0])

    def leader(self, name: str) -> Leader:
        key = f"{self._path}:{self._p}:{name}"
        if self._path == ":memory:" or not HAVE_FLOCK:
            return LocalLeader(local_lock(key))
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return FileLeader(f"{self._path}.{digest}.lock")

    def close(self) -> None:
        with self._write_lock:
            if self._read is not self._write:
                self._read.close()
            self._write.close()


class _Retry(Exception):
    def __init__(self, results: list[AppendResult]) -> None:
        super().__init__("idempotent retry")
        self.results = results
