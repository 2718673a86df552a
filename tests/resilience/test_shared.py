"""Breaker state shared through a real Redis, across processes, and a Redis outage."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from erp_professional.config import ResilienceConfig
from erp_professional.resilience import CircuitBreaker, CircuitOpenError, State, configure
from erp_professional.resilience._metrics import SHARED_ERRORS

DOWN_URL = "redis://127.0.0.1:1/0?socket_connect_timeout=0.2&socket_timeout=0.2"


NAMESPACE = f"erp-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def fast_sync() -> Iterator[None]:
    previous = configure(ResilienceConfig(breaker_sync_interval=0.05, breaker_namespace=NAMESPACE))
    yield
    configure(previous)


@pytest.fixture
def store_url(redis_url: str) -> Iterator[str]:
    """The test Redis server, on a database of its own with this run's own key namespace:
    other suites running at the same time flush the fixture's database between tests."""
    parts = urlsplit(redis_url)
    url = urlunsplit(parts._replace(path="/12"))
    client = redis.Redis.from_url(url)
    yield url
    keys = list(client.scan_iter(f"{NAMESPACE}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def shared(url: str, name: str = "payments", **options: object) -> CircuitBreaker:
    settings: dict[str, object] = {
        "consecutive_failures": 3,
        "open_duration": 30.0,
        "half_open_calls": 1,
        "register": False,
    }
    settings.update(options)
    return CircuitBreaker(name, shared_url=url, **settings)  # type: ignore[arg-type]


def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(ConnectionError), breaker:
        raise ConnectionError


CHILD = textwrap.dedent(
    """
    import sys
    from erp_professional.config import ResilienceConfig
    from erp_professional.resilience import CircuitBreaker, State, configure

    configure(ResilienceConfig(breaker_sync_interval=0.05, breaker_namespace=sys.argv[2]))
    breaker = CircuitBreaker(
        "payments", shared_url=sys.argv[1], consecutive_failures=3, open_duration=30.0,
        register=False,
    )
    for _ in range(3):
        try:
            with breaker:
                raise ConnectionError("gateway down")
        except ConnectionError:
            pass
    sys.exit(0 if breaker.state is State.OPEN else 1)
    """
)


def test_failures_in_one_process_open_the_circuit_in_another(store_url: str) -> None:
    breaker = shared(store_url)
    with breaker:
        pass
    assert breaker.state is State.CLOSED
    child = subprocess.run(
        [sys.executable, "-c", CHILD, store_url, NAMESPACE],
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr
    time.sleep(0.1)  # one sync interval
    with pytest.raises(CircuitOpenError) as info, breaker:
        pass
    assert breaker.state is State.OPEN
    assert 25 < info.value.remaining <= 30
    stored = redis.Redis.from_url(store_url).hgetall(f"{NAMESPACE}:breaker:payments")
    assert stored[b"s"] == b"open"
    assert int(stored[b"a"]) == 1


def test_half_open_permits_are_distributed(store_url: str) -> None:
    first = shared(store_url, open_duration=0.2)
    second = shared(store_url, open_duration=0.2)
    for _ in range(3):
        fail(first)
    time.sleep(0.25)
    start = first.acquire()  # the one trial permit
    assert first.state is State.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        second.acquire()
    assert second.state is State.HALF_OPEN
    first.record_success(start)
    assert first.state is State.CLOSED
    time.sleep(0.1)
    with second:
        pass
    assert second.state is State.CLOSED


def test_failed_trial_reopens_everywhere_with_the_next_duration(store_url: str) -> None:
    first = shared(store_url, open_duration=lambda attempt: 0.2 * attempt)
    second = shared(store_url, open_duration=lambda attempt: 0.2 * attempt)
    for _ in range(3):
        fail(first)
    time.sleep(0.25)
    fail(second)  # the trial fails
    assert second.state is State.OPEN
    assert second.attempt == 2
    time.sleep(0.1)
    with pytest.raises(CircuitOpenError), first:
        pass
    assert first.attempt == 2


def test_manual_state_is_shared(store_url: str) -> None:
    first = shared(store_url)
    second = shared(store_url)
    first.force_open()
    time.sleep(0.1)
    with pytest.raises(CircuitOpenError), second:
        pass
    assert second.state is State.FORCED_OPEN
    second.reset()
    time.sleep(0.1)
    with first:
        pass
    assert first.state is State.CLOSED


def test_redis_down_falls_back_to_local_state(caplog: pytest.LogCaptureFixture) -> None:
    before = SHARED_ERRORS.value(breaker="down")
    breaker = shared(DOWN_URL, name="down")
    with caplog.at_level(logging.WARNING, "erp_professional.resilience"), breaker:
        pass
    assert breaker.shared is not None and breaker.shared.degraded
    for _ in range(3):
        fail(breaker)
    assert breaker.state is State.OPEN  # decided locally
    with pytest.raises(CircuitOpenError), breaker:
        pass
    assert SHARED_ERRORS.value(breaker="down") > before
    assert "using local state" in caplog.text


def test_outage_then_resync_publishes_the_local_trip(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = shared(store_url, name="flaky-store")
    other = shared(store_url, name="flaky-store")
    with breaker:
        pass
    store = breaker.shared
    assert store is not None
    working = store._scripts
    broken_client = redis.Redis.from_url(DOWN_URL)
    store._scripts = {name: broken_client.register_script(s.script) for name, s in working.items()}
    time.sleep(0.1)
    for _ in range(3):
        fail(breaker)
    assert store.degraded
    assert breaker.state is State.OPEN
    stored = redis.Redis.from_url(store_url).hget(f"{NAMESPACE}:breaker:flaky-store", "s")
    assert stored in (None, b"closed")  # Redis never heard of the trip
    store._scripts = working  # Redis is back
    time.sleep(0.1)
    with pytest.raises(CircuitOpenError), breaker:
        pass
    assert not store.degraded
    assert "re-synced" in caplog.text
    time.sleep(0.1)
    with pytest.raises(CircuitOpenError), other:
        pass
    broken_client.close()


def test_bad_store_url_is_refused() -> None:
    with pytest.raises(ValueError):
        ResilienceConfig(breaker_store_url="http://example.invalid")


def test_configured_store_url_makes_breakers_shared(store_url: str) -> None:
    previous = configure(ResilienceConfig(breaker_store_url=store_url, breaker_namespace=NAMESPACE))
    try:
        assert CircuitBreaker("cfg", register=False).shared is not None
        assert CircuitBreaker("cfg", register=False, shared_url=False).shared is None
    finally:
        configure(previous)
    assert CircuitBreaker("cfg", register=False).shared is None
    with pytest.raises(ValueError, match="breaker_store_url"):
        CircuitBreaker("cfg", register=False, shared_url=True)


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_professional.config import load_config

    monkeypatch.setenv("ERP_PRO_RESILIENCE__BREAKER_SYNC_INTERVAL", "0.25")
    monkeypatch.setenv("ERP_PRO_RESILIENCE__BREAKER_STORE_URL", "redis://127.0.0.1:6379/3")
    config = load_config()
    assert config.resilience.breaker_sync_interval == 0.25
    assert config.resilience.breaker_store_url == "redis://127.0.0.1:6379/3"
    monkeypatch.setenv("ERP_PRO_RESILIENCE__BREAKER_SYNC_INTERVAL", "-1")
    with pytest.raises(ValueError, match="breaker_sync_interval"):
        load_config()


@pytest.mark.anyio
async def test_async_calls_share_state_through_the_async_client(store_url: str) -> None:
    from erp_professional.connections import aclose

    first = shared(store_url, name="async-payments", open_duration=0.2)
    second = shared(store_url, name="async-payments", open_duration=0.2)

    @first
    async def charge_here() -> str:
        raise ConnectionError("gateway down")

    @second
    async def charge_there() -> str:
        return "charged"

    try:
        assert await charge_there() == "charged"
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await charge_here()
        assert first.state is State.OPEN
        await asyncio.sleep(0.1)
        with pytest.raises(CircuitOpenError):
            await charge_there()
        await asyncio.sleep(0.2)
        async with first:  # the one trial permit, taken in Redis
            with pytest.raises(CircuitOpenError):
                await charge_there()
        assert first.state is State.CLOSED
        await asyncio.sleep(0.1)
        assert await charge_there() == "charged"
    finally:
        await aclose()


@pytest.mark.anyio
async def test_async_redis_down_falls_back_to_local_state() -> None:
    from erp_professional.connections import aclose

    breaker = shared(DOWN_URL, name="async-down")

    @breaker
    async def call() -> None:
        raise ConnectionError

    try:
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await call()
        assert breaker.shared is not None and breaker.shared.degraded
        assert breaker.state is State.OPEN
        with pytest.raises(CircuitOpenError):
            await call()
    finally:
        await aclose()
