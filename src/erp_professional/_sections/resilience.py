from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ._base import Section


class ResilienceConfig(Section):
    """Settings of the resilience capability.

    Environment form: ``ERP_PRO_RESILIENCE__<KEY>``, e.g.
    ``ERP_PRO_RESILIENCE__BREAKER_STORE_URL=redis://127.0.0.1:6379/0``.
    """

    enabled: bool = True
    breaker_store_url: str | None = None
    """Redis URL that breakers share their state through (``shared=True``); ``None`` keeps
    state in each process. Add ``?socket_timeout=0.2&socket_connect_timeout=0.2`` so an
    unreachable Redis costs little."""
    breaker_namespace: str = Field(default="erp:resilience", min_length=1)
    """Prefix of the Redis keys: ``<namespace>:breaker:<name>``."""
    breaker_sync_interval: float = Field(default=0.5, gt=0, le=60)
    """Seconds between reads of the shared state while the local breaker is closed."""
    breaker_store_failure: Literal["local"] = "local"
    """When the store fails: ``local`` keeps deciding with this process's own state (logged
    and counted) and re-syncs when the store answers again."""
    retry_budget_ratio: float = Field(default=0.2, ge=0, le=10)
    """Default retry budget: retries allowed per call over the budget window."""
    retry_budget_min_per_second: float = Field(default=10.0, ge=0)
    """Retries always allowed per second whatever the ratio."""

    @field_validator("breaker_store_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("breaker_store_url must be a redis://, rediss:// or unix:// URL")
        return value
