"""The async projection runner on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from erp_professional.events import (
    AsyncEventStore,
    AsyncProjectionRunner,
    NewEvent,
    RecordedEvent,
)
from tests.events.conftest import Target

pytestmark = pytest.mark.anyio


class AsyncTotals:
    def __init__(self, target: Target) -> None:
        self.kind = target.kind
        self.table = f"{target.prefix}proj"
        self.memory: dict[str, int] = {}
        self.fail_at: int | None = None

    async def setup(self, store: AsyncEventStore) -> None:
        if self.kind == "sqlite":
            import sqlite3

            path = store.url.split("///", 1)[1]
            with sqlite3.connect(path) as conn:
                conn.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (k TEXT PRIMARY KEY, n INT)")
        elif self.kind == "postgres":
            import psycopg

            async with await psycopg.AsyncConnection.connect(store.url, autocommit=True) as c:
                await c.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (k text PRIMARY KEY, n int)"
                )

    async def handle(self, events: Sequence[RecordedEvent], tx: Any) -> None:
        for event in events:
            n = int(event.data["n"])
            if self.fail_at == n:
                raise RuntimeError("projection bug")
            if self.kind == "memory":
                self.memory["a"] = self.memory.get("a", 0) + n
            elif self.kind == "sqlite":
                tx.execute(
                    f"INSERT INTO {self.table} VALUES ('a', ?) "
                    "ON CONFLICT (k) DO UPDATE SET n = n + excluded.n",
                    (n,),
                )
            else:
                await tx.execute(
                    f"INSERT INTO {self.table} AS t VALUES ('a', %s) "
                    "ON CONFLICT (k) DO UPDATE SET n = t.n + excluded.n",
                    (n,),
                )

    async def reset(self, tx: Any) -> None:
        if self.kind == "memory":
            self.memory.clear()
        elif self.kind == "sqlite":
            tx.execute(f"DELETE FROM {self.table}")
        else:
            await tx.execute(f"DELETE FROM {self.table}")

    async def total(self, store: AsyncEventStore) -> int:
        if self.kind == "memory":
            return self.memory.get("a", 0)
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(store.url.split("///", 1)[1]) as conn:
                row = conn.execute(f"SELECT n FROM {self.table}").fetchone()
        else:
            import psycopg

            async with await psycopg.AsyncConnection.connect(store.url) as c:
                row = await (await c.execute(f"SELECT n FROM {self.table}")).fetchone()
        return 0 if row is None else int(row[0])


async def test_async_runner(target: Target) -> None:
    async with AsyncEventStore(target.url, table_prefix=target.prefix) as store:
        totals = AsyncTotals(target)
        await totals.setup(store)
        runner = AsyncProjectionRunner(
            store, "totals", totals.handle, reset=totals.reset, batch_size=2, poll_interval=0.05
        )
        for n in (1, 2, 3):
            await store.append("acc", [NewEvent("Added", {"n": n})])
        assert await runner.lag() == 3
        assert await runner.run_once() == 3
        assert await totals.total(store) == 6
        assert (await runner.health()).lag == 0
        if target.kind != "memory":
            totals.fail_at = 4
            await store.append("acc", [NewEvent("Added", {"n": 4})])
            with pytest.raises(RuntimeError, match="projection bug"):
                await runner.run_once()
            assert await totals.total(store) == 6
            assert await runner.checkpoint() == 3
            totals.fail_at = None
        else:
            await store.append("acc", [NewEvent("Added", {"n": 4})])
        assert await runner.rebuild() == 4
        assert await totals.total(store) == 10

        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await store.append("acc", [NewEvent("Added", {"n": 5})])
        for _ in range(200):
            if await totals.total(store) == 15:
                break
            await asyncio.sleep(0.02)
        assert await totals.total(store) == 15
        assert runner.active
        stop.set()
        await asyncio.wait_for(task, 10)
        assert not runner.active
