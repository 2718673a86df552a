from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from ._base import Section

_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")


class QueueConfig(Section):
    """Settings of the queue capability (times in seconds)."""

    enabled: bool = True
    url: str = Field(
        default="memory://", description="memory:// (in process) or redis://host:6379/0"
    )
    name: str = Field(default="default", min_length=1, max_length=200)
    lease_time: float = Field(default=30.0, gt=0, le=86400, description="lease of a running job")
    heartbeat_interval: float | None = Field(
        default=None, gt=0, description="lease renewal period; default a third of lease_time"
    )
    concurrency: int = Field(default=10, ge=1, le=10000)
    embedded_worker: bool = Field(default=False, description="run a worker inside the web process")
    grace_period: float = Field(default=30.0, ge=0, description="shutdown wait for running jobs")
    max_stalls: int = Field(default=3, ge=0, description="lost leases before a job is poison")
    retries: int = Field(default=3, ge=0, le=1000, description="default retries after a failure")
    backoff: float = Field(default=1.0, gt=0, description="first retry delay; doubles each time")
    max_backoff: float = Field(default=3600.0, gt=0)
    timeout: float | None = Field(default=None, gt=0, description="default job timeout")
    result_ttl: float = Field(default=86400.0, ge=0, description="how long results live; 0 keeps")
    keep_completed: int = Field(default=1000, ge=0, description="finished jobs kept (newest)")
    keep_failed: int = Field(default=10000, ge=0, description="dead letters kept (newest)")
    scheduler: bool = Field(default=True, description="workers also fire cron schedules")
    backlog_warn_after: float = Field(default=60.0, gt=0, description="health: oldest waiting age")
    backlog_fail_after: float = Field(default=300.0, gt=0)
    rate_limit: str | None = Field(
        default=None,
        description="jobs of the queue started per window by all workers: '100/second', "
        "'5 per 2 seconds', several joined by ';'",
    )
    concurrency_limit: int | None = Field(
        default=None, ge=1, description="jobs of the queue running at once on all workers"
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.lower().startswith(_SCHEMES):
            raise ValueError("queue url must start with one of " + ", ".join(_SCHEMES))
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            from erp_professional.queue import parse_rate_limit

            parse_rate_limit(value)
        return value

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if any(c in value for c in "{}\n\r "):
            raise ValueError("queue name must not contain braces or whitespace")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> QueueConfig:
        if self.backlog_fail_after < self.backlog_warn_after:
            raise ValueError("backlog_fail_after must be >= backlog_warn_after")
        if self.heartbeat_interval is not None and self.heartbeat_interval >= self.lease_time:
            raise ValueError("heartbeat_interval must be shorter than lease_time")
        return self
