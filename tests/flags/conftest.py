"""Fixtures of the flags tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib

# key prefix of each test URL handed out by the ``url`` fixture
PREFIX: dict[str, str] = {}


@pytest.fixture
def url(redis_url: str) -> Iterator[str]:
    """The test Redis server with a unique key prefix per test.

    These tests need their keys to outlive a few hundred milliseconds; a suite that runs at
    the same time and flushes the ``redis_url`` database breaks that, so
    ``ERP_PRO_TEST_FLAGS_REDIS_DB`` may name another database of the same server. Only this
    test's own keys are deleted afterwards.
    """
    own = redis_url
    database = os.environ.get("ERP_PRO_TEST_FLAGS_REDIS_DB")
    if database is not None:
        base, _, _ = redis_url.rpartition("/")
        own = f"{base}/{int(database)}"
    prefix = f"test-flags-{uuid.uuid4().hex}"
    PREFIX[own] = prefix
    yield own
    client = redis_lib.Redis.from_url(own)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
