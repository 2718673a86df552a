"""An exception in the middle of a multi-stream append leaves nothing behind."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from erp_professional.events import EventStore, NewEvent, StreamAppend
from erp_professional.events import _pg_plans as plans
from erp_professional.events._sqlite import SQLiteBackend
from tests.events.conftest import Target, drop_pg_tables


class Boom(Exception):
    pass


def _two_streams() -> list[StreamAppend]:
    return [
        StreamAppend("a", [NewEvent("T", {"n": 1}), NewEvent("T", {"n": 2})]),
        StreamAppend("b", [NewEvent("T", {"n": 3})]),
    ]


def test_sqlite_failure_after_rows_were_written(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.append("keep", [NewEvent("T", {"n": 0})])
    original = SQLiteBackend._append_locked

    def written_then_crash(self: SQLiteBackend, batches: Any) -> Any:
        original(self, batches)
        count = self._write.execute(f"SELECT count(*) FROM {self._p}events").fetchone()[0]
        assert count == 4  # the rows are in the open transaction
        raise Boom

    monkeypatch.setattr(SQLiteBackend, "_append_locked", written_then_crash)
    with pytest.raises(Boom):
        store.append_many(_two_streams())
    monkeypatch.undo()
    assert [e.data["n"] for e in store.read_all()] == [0]
    other = sqlite3.connect(str(tmp_path / "e.db"))
    assert other.execute("SELECT count(*) FROM erp_events").fetchone()[0] == 1
    other.close()
    assert store.append("a", [NewEvent("T", {"n": 9})]).version == 1
    store.close()


@pytest.fixture
def pg_target(postgres_url: str) -> Iterator[Target]:
    prefix = f"c{uuid.uuid4().hex[:10]}_"
    yield Target("postgres", postgres_url, prefix)
    drop_pg_tables(postgres_url, prefix)


def test_postgres_failure_after_the_first_stream_was_written(
    pg_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pg_target
    store = EventStore(target.url, table_prefix=target.prefix)
    store.append("keep", [NewEvent("T", {"n": 0})])
    original = plans._append_statement
    calls = []

    def second_statement_fails(p: str, batch: Any, *args: Any) -> plans.Query:
        calls.append(batch.stream_id)
        if len(calls) == 2:
            return plans.Query("SELECT 1 / 0")
        return original(p, batch, *args)

    monkeypatch.setattr(plans, "_append_statement", second_statement_fails)
    with pytest.raises(Exception, match="division by zero"):
        store.append_many(_two_streams())
    monkeypatch.undo()
    assert calls == ["a", "b"]
    assert [e.data["n"] for e in store.read_all()] == [0]
    assert store.stream_version("a") == 0
    assert store.append("a", [NewEvent("T", {"n": 9})], 0).version == 1
    store.close()
