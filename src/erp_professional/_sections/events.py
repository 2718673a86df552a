from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ._base import Section


class EventsConfig(Section):
    """Settings of the events capability (env: ``ERP_PRO_EVENTS__<KEY>``)."""

    enabled: bool = True
    url: str = Field(
        default="sqlite:///erp_events.db",
        description="Event store backend: memory://, sqlite:///path.db or postgresql://...",
    )
    table_prefix: str = Field(
        default="erp_", description="Prefix of the store's tables (lower-case identifier)."
    )
    snapshot_every: int = Field(
        default=100, ge=0, description="Snapshot an aggregate every N events (0 = never)."
    )
    poll_interval: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Seconds between polls of a live subscription when no wake-up arrives.",
    )
    batch_size: int = Field(
        default=500, ge=1, le=100_000, description="Events read per query by subscriptions."
    )
    notify: bool = Field(
        default=True, description="PostgreSQL: wake subscribers with a debounced NOTIFY."
    )
    busy_retry_seconds: float = Field(
        default=60.0,
        gt=0,
        description="SQLite: how long an append retries while another process writes.",
    )

    sqlite_synchronous: Literal["normal", "full"] = Field(
        default="normal",
        description=(
            "SQLite: 'normal' survives process crashes (a power loss may drop the last "
            "commits); 'full' also survives power loss, at one fsync per append."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in ("memory", "sqlite", "postgresql", "postgres"):
            raise ValueError(
                "must be a memory://, sqlite:///path.db or postgresql://... URL, got " + repr(value)
            )
        return value

    @field_validator("table_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,30}", value):
            raise ValueError("must be a lower-case identifier of at most 31 characters")
        return value
