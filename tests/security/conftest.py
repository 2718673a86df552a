from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._apps import Factory, clients


@pytest.fixture(params=["asgi", "wsgi"])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Build a client for an echo app wrapped by integrate(), under ASGI and WSGI."""
    yield from clients(request.param)


SECURITY_REDIS_DB = 9


@pytest.fixture
def redis_url(redis_url: str) -> Iterator[str]:
    """The shared Redis server, on a database of this suite's own (flushed around each test).

    Other suites flush the shared test database between their tests; counters and keys
    that must live across several steps of one test would vanish under them.
    """
    from urllib.parse import urlsplit, urlunsplit

    import redis

    parts = urlsplit(redis_url)
    url = urlunsplit(parts._replace(path=f"/{SECURITY_REDIS_DB}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
