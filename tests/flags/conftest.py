"""Fixtures of the flags tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib

# key prefix of each test URL handed out by the ``url`` fixture
PREFIX: dict[str, str] = {}


@pytest.fixture
def url(redis_url: str) -> Iterator[str]:
    """The test Redis server, on a database of its own with a unique key prefix.

    The ``redis_url`` database is flushed before every test of every suite, including suites
    running at the same time; these tests need their keys to outlive a few hundred
    milliseconds, so they use the next database down and delete only their own keys.
    """
    base, _, db = redis_url.rpartition("/")
    own = f"{base}/{max(int(db or 0) - 1, 0)}" if db.isdigit() else redis_url
    prefix = f"test-flags-{uuid.uuid4().hex}"
    PREFIX[own] = prefix
    yield own
    client = redis_lib.Redis.from_url(own)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
