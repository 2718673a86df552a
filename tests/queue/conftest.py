"""Queue test fixtures: every contract test runs on memory:// and on a real Redis."""

from __future__ import annotations

import uuid

import pytest

from erp_professional.config import QueueConfig


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def queue_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def fast_config() -> QueueConfig:
    """Short leases and backoffs so behaviour shows within a test's time."""
    return QueueConfig(lease_time=1.0, backoff=0.01, max_backoff=0.05, grace_period=2.0, retries=0)
