"""Built-in dependency checks against real Redis, PostgreSQL and SQLite, and stopped ones."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from erp_professional import connections
from erp_professional.health import (
    HealthRegistry,
    RedisCheck,
    SqlCheck,
    Status,
    dependency_check,
)


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (a stopped service)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(autouse=True)
def _close_pools() -> Iterator[None]:
    yield
    connections.shutdown()


def test_redis_ping_with_latency(redis_url: str) -> None:
    result = RedisCheck(redis_url)()
    assert result.status is Status.PASS
    assert result.observed_unit == "ms"
    assert isinstance(result.observed_value, float) and result.observed_value >= 0


def test_redis_latency_above_warn_threshold_warns(redis_url: str) -> None:
    result = RedisCheck(redis_url, warn_ms=0)()
    assert result.status is Status.WARN
    assert "PING round trip" in (result.output or "")


def test_stopped_redis_fails_with_a_clear_message(closed_port: int) -> None:
    url = f"redis://:hunter2@127.0.0.1:{closed_port}/0"
    result = RedisCheck(url)()
    assert result.status is Status.FAIL
    output = result.output or ""
    assert output.startswith(f"Redis at redis://127.0.0.1:{closed_port}/0 is unreachable: ")
    assert "Connection refused" in output
    assert "hunter2" not in output


def test_postgres_select_1_with_latency(postgres_url: str) -> None:
    result = SqlCheck(postgres_url)()
    assert result.status is Status.PASS
    assert result.observed_unit == "ms"
    assert isinstance(result.observed_value, float)


def test_stopped_postgres_fails_with_a_clear_message(closed_port: int) -> None:
    result = SqlCheck(f"postgresql://postgres:pw@127.0.0.1:{closed_port}/test", pool_wait=0.3)()
    assert result.status is Status.FAIL
    output = result.output or ""
    assert output.startswith(f"PostgreSQL at postgresql://127.0.0.1:{closed_port}/test ")
    assert "is unreachable" in output and "Connection refused" in output
    assert ":pw@" not in output


def test_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/app.db"
    missing = SqlCheck(url)()
    assert missing.status is Status.FAIL
    assert missing.output == f"SQLite database {tmp_path}/app.db does not exist"
    connections.sqlite_connect(url).close()
    result = SqlCheck(url)()
    assert result.status is Status.PASS and result.observed_unit == "ms"
    assert SqlCheck("sqlite:///:memory:")().status is Status.PASS


def test_unusable_sqlite_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    result = SqlCheck(f"sqlite:///{path}")()
    assert result.status is Status.FAIL
    assert "is unusable" in (result.output or "")


def test_dependency_check_picks_by_scheme(redis_url: str, postgres_url: str) -> None:
    assert isinstance(dependency_check(redis_url), RedisCheck)
    assert isinstance(dependency_check(postgres_url), SqlCheck)
    with pytest.raises(ValueError, match="no health check"):
        dependency_check("memory://")
    with pytest.raises(ValueError, match="unsupported URL scheme"):
        dependency_check("ftp://example.org")
    with pytest.raises(ValueError, match="does not support"):
        RedisCheck(postgres_url)


def test_registry_with_real_and_stopped_services(
    redis_url: str, postgres_url: str, closed_port: int
) -> None:
    registry = HealthRegistry(default_timeout=3)
    registry.register("redis:responseTime", RedisCheck(redis_url))
    registry.register("db:responseTime", SqlCheck(postgres_url))
    registry.register("old-cache", RedisCheck(f"redis://127.0.0.1:{closed_port}/0"), critical=False)
    report = registry.run("readiness")
    assert report.status is Status.WARN
    assert report.results["redis:responseTime"].status is Status.PASS
    assert report.results["db:responseTime"].status is Status.PASS
    assert report.checks["redis:responseTime"].component_type == "datastore"
    assert "Connection refused" in (report.results["old-cache"].output or "")


def test_redis_outage_then_recovery(redis_url: str) -> None:
    """The same registry reports fail while Redis refuses clients and pass once it is back."""
    admin = redis.Redis.from_url(redis_url)
    registry = HealthRegistry(cache_ttl=0)
    registry.register("redis", RedisCheck(redis_url))
    assert registry.run().ok
    admin.client_pause(400, all=True)
    try:
        registry.unregister("redis")
        registry.register("redis", RedisCheck(redis_url), timeout=0.1)
        report = registry.run()
        assert report.results["redis"].output == "timed out after 0.1s"
    finally:
        admin.client_unpause()
        admin.close()
    deadline = time.monotonic() + 3
    while not registry.run().ok:
        assert time.monotonic() < deadline, "the check did not recover after Redis came back"
        time.sleep(0.05)


@pytest.mark.anyio
async def test_async_twins_against_real_and_stopped_services(
    redis_url: str, postgres_url: str, closed_port: int, tmp_path: Path
) -> None:
    try:
        assert (await RedisCheck(redis_url).acheck()).status is Status.PASS
        pg = await SqlCheck(postgres_url).acheck()
        assert pg.status is Status.PASS and pg.observed_unit == "ms"
        stopped = await RedisCheck(f"redis://127.0.0.1:{closed_port}/0").acheck()
        assert stopped.status is Status.FAIL
        assert "is unreachable" in (stopped.output or "")
        assert "connection refused" in (stopped.output or "").lower()
        down = await SqlCheck(
            f"postgresql://postgres@127.0.0.1:{closed_port}/test", pool_wait=0.3
        ).acheck()
        assert down.status is Status.FAIL
        assert f"PostgreSQL at postgresql://127.0.0.1:{closed_port}/test is unreachable" in (
            down.output or ""
        )
        assert "Connection refused" in (down.output or "")
        db = f"sqlite:///{tmp_path}/twin.db"
        connections.sqlite_connect(db).close()
        assert (await SqlCheck(db).acheck()).status is Status.PASS
    finally:
        await connections.aclose()


@pytest.mark.anyio
async def test_registry_prefers_async_twins_on_a_live_loop(
    redis_url: str, postgres_url: str
) -> None:
    registry = HealthRegistry(prefer_async=True, default_timeout=3)
    registry.register("redis", RedisCheck(redis_url))
    registry.register("db", SqlCheck(postgres_url))
    try:
        before = {t.name for t in threading.enumerate()}
        report = await registry.arun()
        assert report.ok, report.results
        started = {t.name for t in threading.enumerate()} - before
        assert not any(name.startswith("erp-health-") for name in started)
    finally:
        await connections.aclose()
