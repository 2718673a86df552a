"""PostgreSQL one-event appends: the prepared statement with binary values stores exactly
what the psycopg statement stores, and falls back to it where it does not apply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    EventStore,
    Metadata,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
    _context,
    _postgres,
    _postgres_async,
)
from erp_professional.events import _pg_plans as plans
from erp_professional.events._core import Batch, prepare, utc_now
from erp_professional.events._types import AppendResult, Expected
from tests.events.conftest import drop_pg_tables

COLUMNS = (
    "id, stream_id, version, type, data::text, correlation_id, causation_id, actor, tenant, "
    "schema_version, headers::text, recorded_at"
)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, str]]:
    prefix = f"p{uuid.uuid4().hex[:10]}_"
    EventStore(postgres_url, table_prefix=prefix).close()  # creates the tables
    yield postgres_url, prefix
    drop_pg_tables(postgres_url, prefix)


@pytest.fixture
def conn(pg: tuple[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the pool hands them out: not in autocommit mode."""
    with psycopg.connect(pg[0]) as c:
        yield c


def batch_of(
    stream: str, event: NewEvent, expected: Expected = ANY, now: datetime | None = None
) -> list[Batch]:
    return prepare([StreamAppend(stream, (event,), expected)], _context.capture(), now or utc_now())


def append(conn: psycopg.Connection[Any], prefix: str, batches: list[Batch]) -> AppendResult:
    autocommit = conn.autocommit
    try:
        results: list[AppendResult] = _postgres.drive(conn, plans.append_plan(prefix, batches))
    finally:
        if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.autocommit = autocommit
    return results[0]


def prepared_names(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name").fetchall()
    conn.rollback()
    return [r[0] for r in rows if r[0].startswith("erp_events_")]


def stored(url: str, prefix: str, stream: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(
            f"SELECT {COLUMNS} FROM {prefix}events WHERE stream_id = %s ORDER BY version",
            (stream,),
        ).fetchall()


def test_one_event_appends_use_a_prepared_statement_and_keep_the_connection_as_it_was(
    pg: tuple[str, str], conn: psycopg.Connection[Any]
) -> None:
    _url, prefix = pg
    for expected in (NO_STREAM, 1, STREAM_EXISTS, ANY):
        append(conn, prefix, batch_of("s", NewEvent("A", {"n": 1}), expected))
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert not conn.autocommit
    assert prepared_names(conn) == [
        f"erp_events_{prefix}append_any",
        f"erp_events_{prefix}append_exact",
        f"erp_events_{prefix}append_exists",
        f"erp_events_{prefix}append_new",
    ]
    with pytest.raises(WrongExpectedVersion) as conflict:
        append(conn, prefix, batch_of("s", NewEvent("A", {}), 2))
    assert (conflict.value.expected, conflict.value.actual) == (2, 4)
    assert not conn.autocommit


def test_both_paths_store_the_same_row(pg: tuple[str, str], conn: psycopg.Connection[Any]) -> None:
    url, prefix = pg
    # A connection that must not prepare statements takes psycopg's statement.
    plain = psycopg.connect(url, prepare_threshold=None)
    ambient_moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=-7)))

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        data=st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.none()), max_size=3),
        type_=st.text(min_size=1, max_size=20).filter(lambda t: "\x00" not in t),
        texts=st.lists(
            st.one_of(st.none(), st.text(max_size=10).filter(lambda t: "\x00" not in t)),
            min_size=4,
            max_size=4,
        ),
        schema_version=st.integers(1, 2**31 - 1),
        headers=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        moment=st.sampled_from([None, ambient_moment, datetime(1, 1, 1, tzinfo=UTC)]),
    )
    def check(
        data: dict[str, Any],
        type_: str,
        texts: list[str | None],
        schema_version: int,
        headers: dict[str, str],
        moment: datetime | None,
    ) -> None:
        try:
            type_.encode()
            for text in (*texts, *data, *headers, *headers.values()):
                (text or "").encode()
        except UnicodeEncodeError:
            return  # refused before any I/O, on both paths
        metadata = Metadata(*texts, schema_version=schema_version, headers=headers)
        event_id = uuid.uuid4()
        fast, slow = f"fast-{event_id}", f"slow-{event_id}"
        now = moment or utc_now()
        for connection, stream in ((conn, fast), (plain, slow)):
            event = NewEvent(type_, data, metadata, event_id if stream == fast else None)
            result = append(connection, prefix, batch_of(stream, event, NO_STREAM, now))
            assert result.version == 1
        (row_fast,) = stored(url, prefix, fast)
        (row_slow,) = stored(url, prefix, slow)
        assert row_fast[0] == event_id
        assert row_fast[2:] == row_slow[2:]
        assert row_fast[-1] == now

    check()
    assert prepared_names(plain) == []
    assert prepared_names(conn)
    plain.close()


def test_a_lost_prepared_statement_is_prepared_again(
    pg: tuple[str, str], conn: psycopg.Connection[Any]
) -> None:
    _url, prefix = pg
    assert append(conn, prefix, batch_of("s", NewEvent("A", {}))).version == 1
    for version, reset in enumerate(("DEALLOCATE ALL", "DISCARD ALL"), 2):
        conn.autocommit = True
        conn.execute(reset)
        conn.autocommit = False
        assert prepared_names(conn) == []
        assert append(conn, prefix, batch_of("s", NewEvent("A", {}))).version == version
        assert prepared_names(conn) == [f"erp_events_{prefix}append_any"]
    # Prepared by someone else under our name (a lost bookkeeping): used as it is.
    _postgres._PREPARED.pop(conn)
    assert append(conn, prefix, batch_of("s", NewEvent("A", {}))).version == 4


def test_an_idempotent_retry_and_a_duplicate_id_on_the_prepared_path(
    pg: tuple[str, str], conn: psycopg.Connection[Any]
) -> None:
    _url, prefix = pg
    event = NewEvent("A", {"x": 1})
    first = append(conn, prefix, batch_of("s", event, NO_STREAM))
    assert append(conn, prefix, batch_of("s", event, NO_STREAM)) == first
    assert append(conn, prefix, batch_of("s", event, ANY)) == first
    with pytest.raises(DuplicateEventId):
        append(conn, prefix, batch_of("other", event, ANY))
    assert not conn.autocommit


def test_values_the_prepared_statement_does_not_take_go_the_psycopg_way(
    pg: tuple[str, str], conn: psycopg.Connection[Any]
) -> None:
    url, prefix = pg
    # An ambient actor is not checked before I/O: psycopg refuses NUL, as it always did.
    with _context.acting_as("a\x00b"), pytest.raises(psycopg.DataError):
        append(conn, prefix, batch_of("s", NewEvent("A", {})))
    big = Metadata(schema_version=2**31)
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        append(conn, prefix, batch_of("s", NewEvent("A", {}, big)))
    append(conn, prefix, batch_of("s", NewEvent("A", {})))
    with pytest.raises(WrongExpectedVersion) as conflict:
        append(conn, prefix, batch_of("s", NewEvent("A", {}), 2**63))
    assert conflict.value.actual == 1
    assert plans.one_event_values(batch_of("s", NewEvent("A", {}), 2**63)[0]) is None
    with _context.acting_as("\ud800"), pytest.raises(UnicodeEncodeError):
        append(conn, prefix, batch_of("s", NewEvent("A", {})))

    class Version(int):
        pass

    assert plans.one_event_values(batch_of("s", NewEvent("A", {}), Version(1))[0]) is None
    assert append(conn, prefix, batch_of("s", NewEvent("A", {}), Version(1))).version == 2
    # Another client encoding: psycopg encodes the text.
    conn.execute("SET client_encoding = 'LATIN1'")
    conn.commit()
    append(conn, prefix, batch_of("s", NewEvent("Läufer", {"ä": "ö"}, {"actor": "Jürgen"})))
    conn.execute("SET client_encoding = 'UTF8'")
    conn.commit()
    rows = stored(url, prefix, "s")
    assert [(r[3], r[4], r[7]) for r in rows[2:]] == [
        ("Läufer", '{"\\u00e4": "\\u00f6"}', "Jürgen")
    ]
    assert prepared_names(conn) == [f"erp_events_{prefix}append_any"]


def test_one_event_values_are_postgresql_binary_forms() -> None:
    moment = datetime(2000, 1, 1, 0, 0, 1, 5, tzinfo=UTC)
    event = NewEvent("T", {"a": 1}, {"actor": "u", "tenant": "t", "schema_version": 3})
    (batch,) = batch_of("s", event, 7, moment)
    values = plans.one_event_values(batch)
    assert values == [
        b"s",
        event.id.bytes,
        b"T",
        b'{"a": 1}',
        None,
        None,
        b"u",
        b"t",
        (3).to_bytes(4, "big"),
        b"{}",
        (1_000_005).to_bytes(8, "big"),
        (7).to_bytes(8, "big"),
    ]
    name, sql, types = plans.one_event_statement("x_", 7)
    assert (name, len(types), sql.count(b"$12")) == (b"erp_events_x_append_exact", 12, 1)
    for expected in (ANY, NO_STREAM, 0, STREAM_EXISTS):
        (batch,) = batch_of("s", event, expected, moment)
        values = plans.one_event_values(batch)
        assert values is not None and len(values) == 11
        name, sql, types = plans.one_event_statement("x_", expected)
        assert len(types) == 11 and b"$12" not in sql
    before_2000 = batch_of("s", event, ANY, datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert plans.one_event_values(before_2000[0])[-1] == (-1_000_000).to_bytes(  # type: ignore[index]
        8, "big", signed=True
    )


def test_a_statement_that_cannot_be_prepared_raises_the_database_error(
    conn: psycopg.Connection[Any],
) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable):
        append(conn, "missing_", batch_of("s", NewEvent("A", {})))
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert prepared_names(conn) == []


async def async_append(
    conn: psycopg.AsyncConnection[Any], prefix: str, batches: list[Batch]
) -> AppendResult:
    results: list[AppendResult] = await _postgres_async.drive(
        conn, plans.append_plan(prefix, batches)
    )
    return results[0]


async def async_prepared_names(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
    return [r[0] for r in await cur.fetchall() if r[0].startswith("erp_events_")]


@pytest.mark.anyio
async def test_the_async_backend_takes_the_same_prepared_path(pg: tuple[str, str]) -> None:
    url, prefix = pg
    # As the async backend drives plans: in autocommit mode.
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    plain = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None)
    try:
        now = utc_now()
        metadata = Metadata("c-1", "k-1", "Jürgen", "t", 2, {"h": "v"})
        for connection, stream in ((conn, "fast"), (plain, "slow")):
            for expected in (NO_STREAM, 1, STREAM_EXISTS, ANY):
                event = NewEvent("Läufer", {"ä": [1, None]}, metadata)
                await async_append(connection, prefix, batch_of(stream, event, expected, now))
        fast, slow = stored(url, prefix, "fast"), stored(url, prefix, "slow")
        assert [r[2:] for r in fast] == [r[2:] for r in slow]
        assert [r[2] for r in fast] == [1, 2, 3, 4]
        assert await async_prepared_names(plain) == []
        assert len(await async_prepared_names(conn)) == 4
        event = NewEvent("A", {})
        first = await async_append(conn, prefix, batch_of("fast", event, 4))
        assert await async_append(conn, prefix, batch_of("fast", event, 4)) == first
        with pytest.raises(WrongExpectedVersion) as conflict:
            await async_append(conn, prefix, batch_of("fast", NewEvent("A", {}), 4))
        assert conflict.value.actual == 5
        await conn.execute("DEALLOCATE ALL")
        assert (await async_append(conn, prefix, batch_of("fast", NewEvent("A", {})))).version == 6
        with _context.acting_as("a\x00b"), pytest.raises(psycopg.DataError):
            await async_append(conn, prefix, batch_of("fast", NewEvent("A", {})))
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        await conn.close()
        await plain.close()


def test_psycopg_parts_of_the_direct_path_are_there() -> None:
    # The direct path uses psycopg parts that are not all public API: fail loudly here if
    # a psycopg release drops them (appends would quietly take the slower cursor path).
    assert _postgres.DIRECT


def test_without_the_direct_path_one_event_appends_take_the_cursor(
    pg: tuple[str, str], conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = pg
    monkeypatch.setattr(_postgres, "DIRECT", False)
    for expected in (NO_STREAM, 1, STREAM_EXISTS, ANY):
        append(conn, prefix, batch_of("s", NewEvent("A", {"n": 1}), expected))
    with pytest.raises(WrongExpectedVersion):
        append(conn, prefix, batch_of("s", NewEvent("A", {}), 2))
    assert [r[2] for r in stored(url, prefix, "s")] == [1, 2, 3, 4]
    assert prepared_names(conn) == []
