"""The asyncio twin: store I/O awaited, evaluation synchronous."""

from __future__ import annotations

import asyncio

import pytest

from erp_professional.flags import AsyncFeatureFlags, FeatureFlags, RedisStore, State

from .conftest import PREFIX


@pytest.mark.anyio
async def test_async_twin_over_redis(url: str) -> None:
    async with AsyncFeatureFlags(store=RedisStore(url, prefix=PREFIX[url])) as flags:
        assert await flags.start(2) is State.READY
        audits = []
        flags.on_audit(audits.append)
        await flags.set_flag("beta", {"users": ["alice"]}, actor="alice")
        assert flags.is_enabled("beta", {"userId": "alice"})
        assert flags.evaluate("beta", {"userId": "alice"}).value is True
        await flags.kill("beta", actor="oncall")
        assert not flags.is_enabled("beta", {"userId": "alice"})
        assert await flags.delete_flag("beta")
        assert flags.get_flag("beta") is None
        assert [a.action for a in audits] == ["set", "kill", "delete"]


@pytest.mark.anyio
async def test_event_loop_keeps_running_during_store_io() -> None:
    flags = AsyncFeatureFlags(FeatureFlags())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for i in range(20):
        await flags.set_flag(f"f{i}", {})
    task.cancel()
    assert ticks > 0
    assert len(flags.list_flags()) == 20
    with flags.override("f0", False):
        assert not flags.is_enabled("f0")
    assert await flags.apply_unleash_events([{"type": "feature-removed", "featureName": "f1"}]) == 1
    assert flags.get_flag("f1") is None


@pytest.mark.anyio
async def test_async_changes_reach_other_processes_listeners(url: str) -> None:
    listener = FeatureFlags(store=RedisStore(url, prefix=PREFIX[url]))
    assert listener.start(2) is State.READY
    async with AsyncFeatureFlags(store=RedisStore(url, prefix=PREFIX[url])) as flags:
        await flags.apply_unleash_events(
            [{"type": "feature-updated", "feature": {"name": "ev", "enabled": True}}]
        )
        assert flags.is_enabled("ev")
        for _ in range(200):
            if listener.is_enabled("ev"):
                break
            await asyncio.sleep(0.005)
        assert listener.is_enabled("ev")
        listener.set_flag("from-sync", {})
        assert await flags.refresh() is State.READY
        assert flags.is_enabled("from-sync")
        with pytest.raises(KeyError):
            await flags.kill("missing")
    listener.close()
