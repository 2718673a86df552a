"""Projection runner: transactional checkpoints, at-least-once mode, rebuild, leadership."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from erp_professional.events import (
    EventStore,
    NewEvent,
    ProjectionRunner,
    RecordedEvent,
)
from tests.events.conftest import BACKENDS, Target, drop_pg_tables, make_target


class Totals:
    """A projection table in the store's own database (a dict for memory)."""

    def __init__(self, target: Target, store: EventStore) -> None:
        self.kind = target.kind
        self.table = f"{target.prefix}proj"
        self.memory: dict[str, int] = {}
        self.fail_at: int | None = None
        if self.kind == "sqlite":
            import sqlite3

            path = target.url.split("///", 1)[1]
            with sqlite3.connect(path) as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (k TEXT PRIMARY KEY, n INTEGER)"
                )
        elif self.kind == "postgres":
            import psycopg

            with psycopg.connect(target.url, autocommit=True) as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (k text PRIMARY KEY, n bigint)"
                )
        self.target = target

    def handle(self, events: Sequence[RecordedEvent], tx: Any) -> None:
        for event in events:
            if self.fail_at is not None and int(event.data["n"]) == self.fail_at:
                raise RuntimeError("projection bug")
            key, amount = str(event.data["k"]), int(event.data["n"])
            if self.kind == "memory":
                self.memory[key] = self.memory.get(key, 0) + amount
            elif self.kind == "sqlite":
                tx.execute(
                    f"INSERT INTO {self.table} VALUES (?, ?) "
                    "ON CONFLICT (k) DO UPDATE SET n = n + excluded.n",
                    (key, amount),
                )
            else:
                tx.execute(
                    f"INSERT INTO {self.table} AS t VALUES (%s, %s) "
                    "ON CONFLICT (k) DO UPDATE SET n = t.n + excluded.n",
                    (key, amount),
                )

    def reset(self, tx: Any) -> None:
        if self.kind == "memory":
            self.memory.clear()
        else:
            tx.execute(f"DELETE FROM {self.table}")

    def values(self) -> dict[str, int]:
        if self.kind == "memory":
            return dict(self.memory)
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.target.url.split("///", 1)[1]) as conn:
                return dict(conn.execute(f"SELECT k, n FROM {self.table}").fetchall())
        import psycopg

        with psycopg.connect(self.target.url) as conn:
            return dict(conn.execute(f"SELECT k, n FROM {self.table}").fetchall())


def add(store: EventStore, key: str, n: int) -> None:
    store.append(f"acc-{key}", [NewEvent("Added", {"k": key, "n": n})])


def test_run_once_checkpoint_and_lag(store: EventStore, target: Target) -> None:
    totals = Totals(target, store)
    runner = ProjectionRunner(store, "totals", totals.handle, reset=totals.reset, batch_size=2)
    for n in range(1, 6):
        add(store, "a" if n % 2 else "b", n)
    assert runner.lag() == 5
    assert runner.health().healthy
    assert runner.run_once() == 5
    assert totals.values() == {"a": 9, "b": 6}
    assert (runner.checkpoint, runner.lag()) == (5, 0)
    add(store, "a", 10)
    assert runner.run_once() == 1
    assert totals.values() == {"a": 19, "b": 6}
    assert runner.run_once() == 0


@pytest.fixture(params=[p for p in BACKENDS if p.values[0] != "memory"])
def sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """SQLite and PostgreSQL only: memory projections have no transaction to roll back."""
    t = make_target(request.param, tmp_path, request)
    yield t
    if t.kind == "postgres":
        drop_pg_tables(t.url, t.prefix, (f"{t.prefix}proj",))


def test_a_failing_batch_leaves_neither_writes_nor_checkpoint(sql_target: Target) -> None:
    target = sql_target
    store = EventStore(target.url, table_prefix=target.prefix)
    totals = Totals(target, store)
    runner = ProjectionRunner(store, "totals", totals.handle, batch_size=10)
    for n in range(1, 5):
        add(store, "a", n)
    totals.fail_at = 3
    with pytest.raises(RuntimeError, match="projection bug"):
        runner.run_once()
    assert totals.values() == {}
    assert runner.checkpoint == 0
    totals.fail_at = None
    assert runner.run_once() == 4
    assert totals.values() == {"a": 10}
    store.close()


def test_rebuild_replays_from_zero(store: EventStore, target: Target) -> None:
    totals = Totals(target, store)
    runner = ProjectionRunner(store, "totals", totals.handle, reset=totals.reset)
    for n in (1, 2, 3):
        add(store, "a", n)
    runner.run_once()
    assert runner.rebuild() == 3
    assert totals.values() == {"a": 6}


def test_at_least_once_mode_hands_no_connection(store: EventStore) -> None:
    seen: list[tuple[int, object]] = []

    def handler(events: Sequence[RecordedEvent], tx: object) -> None:
        seen.extend((e.position, tx) for e in events)

    runner = ProjectionRunner(store, "external", handler, transactional=False, types=["Added"])
    add(store, "a", 1)
    store.append("other", [NewEvent("Ignored", {})])
    add(store, "a", 2)
    assert runner.run_once() == 2
    assert [tx for _, tx in seen] == [None, None]
    assert runner.checkpoint == seen[-1][0]


def test_only_one_runner_is_active_and_a_standby_takes_over(
    store: EventStore, target: Target
) -> None:
    other_store = EventStore(target.url, table_prefix=target.prefix)
    counts = {"one": 0, "two": 0}

    def counter(name: str) -> Any:
        def handle(events: Sequence[RecordedEvent], tx: object) -> None:
            counts[name] += len(events)

        return handle

    one = ProjectionRunner(store, "shared", counter("one"), poll_interval=0.05)
    two = ProjectionRunner(other_store, "shared", counter("two"), poll_interval=0.05)
    stop_one, stop_two = threading.Event(), threading.Event()
    t1 = threading.Thread(target=one.run, args=(stop_one,))
    t1.start()
    deadline = time.monotonic() + 10
    while not one.active and time.monotonic() < deadline:
        time.sleep(0.01)
    t2 = threading.Thread(target=two.run, args=(stop_two,))
    t2.start()
    try:
        add(store, "a", 1)
        while one.checkpoint < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert one.active and not two.active
        with pytest.raises(RuntimeError, match="running elsewhere"):
            two.rebuild()
        stop_one.set()
        t1.join(10)
        add(store, "a", 2)
        deadline = time.monotonic() + 10
        while counts["two"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counts == {"one": 1, "two": 1}
        assert two.active
        assert two.health().lag == 0
    finally:
        stop_one.set()
        stop_two.set()
        t1.join(10)
        t2.join(10)
        other_store.close()
