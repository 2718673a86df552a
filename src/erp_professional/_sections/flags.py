from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from ._base import Section


class FlagsConfig(Section):
    """Settings of the flags capability.

    ``url`` picks the store: ``memory://`` (this process), ``redis://...`` (shared by every
    process) or ``file:///path/flags.yaml`` (hot reloaded). ``bootstrap_file`` serves flags
    before the store has answered.
    """

    enabled: bool = True
    url: str = "memory://"
    file: Path | None = None
    bootstrap_file: Path | None = None
    redis_prefix: str = Field(default="erp_pro:flags", min_length=1)
    refresh_interval: float = Field(default=30.0, gt=0, description="Redis re-sync, seconds")
    poll_interval: float = Field(default=1.0, gt=0, description="file change check, seconds")
    startup_timeout: float = Field(default=5.0, ge=0)
    exposure_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    actor: str = Field(default="system", min_length=1)
    audit_events_url: str | None = Field(
        default=None, description="event store URL receiving the audit records"
    )
    static_context: dict[str, str] = Field(
        default_factory=dict, description="fields every evaluation shares, e.g. environment"
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in ("memory", "redis", "rediss", "unix", "file"):
            raise ValueError(
                f"expected memory://, redis://, rediss://, unix:// or file:// URL, got {value!r}"
            )
        return value
