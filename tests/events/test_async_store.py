"""The async twin behaves like the sync store on every backend."""

from __future__ import annotations

import asyncio

import pytest

from erp_professional.events import (
    NO_STREAM,
    AsyncEventStore,
    EventStore,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
    acting_as,
)
from tests.events.conftest import Target

pytestmark = pytest.mark.anyio


async def test_async_append_read_and_conflicts(target: Target) -> None:
    async with AsyncEventStore(target.url, table_prefix=target.prefix) as store:
        first = await store.append("s", [NewEvent("A", {"n": 1})], NO_STREAM)
        assert first.version == 1
        with pytest.raises(WrongExpectedVersion) as info:
            await store.append("s", [NewEvent("A")], NO_STREAM)
        assert info.value.actual == 1
        event = NewEvent("B", {"n": 2})
        with acting_as("carol"):
            again = await store.append_many([StreamAppend("s", [event], 1)])
        assert await store.append("s", [event], 1) == again[0]
        rec = await store.record(
            event_type="C", aggregate_type="inv", aggregate_id="7", payload={"n": 3}
        )
        assert rec.stream_id == "inv-7"
        assert [e.data["n"] for e in await store.read_all()] == [1, 2, 3]
        assert [e.version for e in await store.read_stream("s", backwards=True)] == [2, 1]
        assert [e.data["n"] for e in await store.audit(actor="carol")] == [2]
        assert await store.stream_version("s") == 2
        assert (await store.stats()).events == 3


async def test_async_subscription_follows_writes_from_a_sync_store(target: Target) -> None:
    sync_store = EventStore(target.url, table_prefix=target.prefix)
    try:
        sync_store.append("s", [NewEvent("A", {"n": 0})])
        async with AsyncEventStore(target.url, table_prefix=target.prefix) as store:
            sub = await store.subscribe(poll_interval=0.05)
            async with sub:
                first = await sub.get(timeout=5)
                assert first is not None and first.data == {"n": 0}

                async def write() -> None:
                    for n in range(1, 4):
                        await asyncio.to_thread(sync_store.append, "s", [NewEvent("A", {"n": n})])

                task = asyncio.create_task(write())
                seen = []
                async for event in sub:
                    seen.append(event.data["n"])
                    if len(seen) == 3:
                        break
                await task
                assert seen == [1, 2, 3]
                assert await sub.get(timeout=0.1) is None
    finally:
        sync_store.close()
