"""Backend URLs: parsing, one pool per URL per process, fork safety, closing."""

import asyncio
import multiprocessing
import os
from pathlib import Path

import pytest

from erp_professional import connections


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory://", "memory"),
        ("sqlite:///x.db", "sqlite"),
        ("redis://localhost:6379/0", "redis"),
        ("rediss://h:6380/1", "redis"),
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
    ],
)
def test_parse_url_kinds(url: str, kind: str) -> None:
    assert connections.parse_url(url).kind == kind


@pytest.mark.parametrize("url", ["mysql://h/db", "http://x", "nonsense", "", "://"])
def test_unknown_schemes_name_the_supported_ones(url: str) -> None:
    with pytest.raises(ValueError, match=r"redis://.*postgresql://"):
        connections.parse_url(url)


def test_check_scheme_names_the_capability() -> None:
    with pytest.raises(ValueError, match=r"the event store does not support redis:// URLs"):
        connections.check_scheme("redis://h", ("memory", "sqlite"), "the event store")


def test_sqlite_paths(tmp_path: Path) -> None:
    assert connections.sqlite_path("sqlite:///relative/x.db") == "relative/x.db"
    assert connections.sqlite_path(f"sqlite:///{tmp_path}/abs.db") == f"{tmp_path}/abs.db"
    assert connections.sqlite_path("sqlite://") == ":memory:"
    with pytest.raises(ValueError, match="three slashes"):
        connections.sqlite_path("sqlite://host.db")


def test_sqlite_connect_uses_wal_and_creates_directories(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/dir/app.db"
    conn = connections.sqlite_connect(url)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    finally:
        conn.close()


def test_redis_client_is_one_per_url(redis_url: str) -> None:
    try:
        first = connections.redis_client(redis_url)
        assert connections.redis_client(redis_url) is first
        assert first.ping() is True
    finally:
        connections.shutdown()
    assert connections.redis_client(redis_url) is not first
    connections.shutdown()


def test_async_redis_client_is_per_event_loop(redis_url: str) -> None:
    async def use() -> object:
        client = connections.async_redis_client(redis_url)
        assert connections.async_redis_client(redis_url) is client
        assert await client.ping() is True
        await connections.aclose()
        return client

    assert asyncio.run(use()) is not asyncio.run(use())


def test_postgres_pools(postgres_url: str) -> None:
    pool = connections.postgres_pool(postgres_url)
    try:
        assert connections.postgres_pool(postgres_url) is pool
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        connections.shutdown()
    assert pool.closed

    async def use() -> None:
        apool = await connections.async_postgres_pool(postgres_url)
        async with apool.connection() as conn:
            cur = await conn.execute("SELECT 2")
            assert await cur.fetchone() == (2,)
        await connections.aclose()
        assert apool.closed

    asyncio.run(use())


def _child_pool_identity(url: str, queue: "multiprocessing.Queue[tuple[int, bool]]") -> None:
    client = connections.redis_client(url)
    queue.put((os.getpid(), bool(client.ping())))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pools_are_dropped_in_a_forked_child(redis_url: str) -> None:
    parent = connections.redis_client(redis_url)
    parent.ping()
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[int, bool]] = ctx.Queue()
    process = ctx.Process(target=_child_pool_identity, args=(redis_url, queue))
    process.start()
    pid, ok = queue.get(timeout=20)
    process.join(20)
    assert ok
    assert pid != os.getpid()
    # The parent's client still works: the child never closed or reused its sockets.
    assert parent.ping() is True
    connections.shutdown()


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("psycopg"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(connections.MissingDependencyError, match=r"erp-professional\[postgres\]"):
        connections.postgres_pool("postgresql://postgres@127.0.0.1:1/none")
