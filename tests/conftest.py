"""Shared fixtures: real service URLs, skipped or required by ERP_PRO_REQUIRE_SERVICES."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("ERP_PRO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "ERP_PRO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("ERP_PRO_REQUIRE_SERVICES", "") == "1"


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def _service(url: str, default_port: int, name: str) -> str:
    if not _answers(url, default_port):
        message = f"{name} is not answering at {url}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and ERP_PRO_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A flushed Redis database for one test; the `redis` marker is added automatically."""
    url = _service(REDIS_URL, 6379, "Redis")
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def postgres_url() -> str:
    """A reachable PostgreSQL database; tests clean up the tables they create."""
    return _service(POSTGRES_URL, 5432, "PostgreSQL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "redis_url" in names:
            item.add_marker(pytest.mark.redis)
        if "postgres_url" in names:
            item.add_marker(pytest.mark.postgres)
