"""PostgreSQL: a reader never runs past a position whose transaction is still open."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from erp_professional.events import (
    AppendResult,
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    _context,
)
from erp_professional.events import _pg_plans as plans
from erp_professional.events._core import prepare, utc_now
from tests.events.conftest import drop_pg_tables


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[str, str]]:
    prefix = f"o{uuid.uuid4().hex[:10]}_"
    yield postgres_url, prefix
    drop_pg_tables(postgres_url, prefix, (f"{prefix}other",))


def open_append(url: str, prefix: str, stream: str) -> psycopg.Connection:
    """Append one event in a transaction that stays open (the caller commits)."""
    batch = prepare([StreamAppend(stream, [NewEvent("Slow", {})])], _context.capture(), utc_now())
    conn = psycopg.connect(url)
    query = plans._append_statement(prefix, batch[0])
    assert conn.execute(query.sql, query.params).fetchall()
    return conn


def test_readers_wait_for_an_open_lower_position(pg: tuple[str, str]) -> None:
    url, prefix = pg
    store = EventStore(url, table_prefix=prefix)
    slow = open_append(url, prefix, "slow")  # draws position 1, not committed
    fast = store.append("fast", [NewEvent("Fast", {})])  # position 2, committed
    assert fast.position == 2
    seen: list[list[RecordedEvent]] = []
    reader = threading.Thread(target=lambda: seen.append(store.read_all()))
    reader.start()
    time.sleep(0.5)
    assert reader.is_alive(), "read_all exposed position 2 while position 1 was in flight"
    slow.commit()
    reader.join(10)
    assert [e.position for e in seen[0]] == [1, 2]
    slow.close()
    store.close()


def test_a_rolled_back_position_is_a_gap_readers_pass(pg: tuple[str, str]) -> None:
    url, prefix = pg
    store = EventStore(url, table_prefix=prefix)
    slow = open_append(url, prefix, "slow")
    store.append("fast", [NewEvent("Fast", {})])
    with store.subscribe(poll_interval=0.05) as sub:
        assert sub.get(timeout=0.3) is None
        slow.rollback()
        event = sub.get(timeout=5)
        assert event is not None and (event.position, event.type) == (2, "Fast")
    slow.close()
    store.close()


def test_unrelated_open_transactions_do_not_delay_readers(pg: tuple[str, str]) -> None:
    url, prefix = pg
    store = EventStore(url, table_prefix=prefix)
    other = psycopg.connect(url)
    other.execute(f"CREATE TABLE {prefix}other (x int)")
    other.commit()
    other.execute(f"INSERT INTO {prefix}other VALUES (1)")  # holds an xid, stays open
    store.append("s", [NewEvent("A", {})])
    start = time.monotonic()
    assert [e.type for e in store.read_all()] == ["A"]
    assert time.monotonic() - start < 2
    other.rollback()
    other.close()
    store.close()


def test_maintenance_on_the_streams_table_does_not_delay_readers(pg: tuple[str, str]) -> None:
    # ANALYZE (also run by autovacuum) locks the streams table and takes a transaction id,
    # but draws no position: readers must not wait for it.
    url, prefix = pg
    store = EventStore(url, table_prefix=prefix)
    store.append("s", [NewEvent("A", {})])
    with psycopg.connect(url) as maintenance:
        try:
            maintenance.execute(f"ANALYZE {prefix}streams")
            xid = maintenance.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()
            assert xid is not None and xid[0] is not None
            start = time.monotonic()
            assert [e.type for e in store.read_all()] == ["A"]
            assert time.monotonic() - start < 2
        finally:
            maintenance.rollback()
    store.close()


def test_an_unverified_read_never_widens_later_reads(pg: tuple[str, str]) -> None:
    url, prefix = pg
    store = EventStore(url, table_prefix=prefix)
    backend = store.backend
    slow = open_append(url, prefix, "slow")  # position 1 in flight
    store.append("fast", [NewEvent("Fast", {})])  # position 2
    assert backend.read_all(1, None, None, None, 0.1) == ([], 1)
    assert backend.read_all(0, 10, None, None, 0.1) == ([], 0)
    slow.commit()
    events, horizon = backend.read_all(0, 10, None, None, 0.1)
    assert ([e.position for e in events], horizon) == ([1, 2], 2)
    # Paging below a verified horizon needs no new one, and stays exact.
    assert [e.position for e in backend.read_all(0, 1, None, None, 0.1)[0]] == [1]
    slow.close()
    store.close()


def test_a_killed_connection_surfaces_and_the_store_recovers(pg: tuple[str, str]) -> None:
    url, prefix = pg
    store = EventStore(url, table_prefix=prefix)
    store.append("s", [NewEvent("A", {})])
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = '' AND query LIKE %s",
            (f"%{prefix}%",),
        )
    # Each dead pooled connection fails one call with a clear error; the pool then
    # replaces it. A retried append (same event id) is stored exactly once.
    event = NewEvent("B", {})

    def retrying() -> AppendResult:
        for _ in range(12):
            try:
                return store.append("s", [event], 1)
            except psycopg.OperationalError:
                continue
        raise AssertionError("the store did not recover")

    result = retrying()
    assert result.version == 2
    assert retrying() == result
    assert [e.type for e in store.read_stream("s")] == ["A", "B"]
    store.close()
