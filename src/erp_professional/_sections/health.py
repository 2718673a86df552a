from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator, model_validator

from ._base import Section

_DEPENDENCY_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "postgresql",
    "postgres",
    "sqlite",
    "http",
    "https",
)


class HealthConfig(Section):
    """Settings of the health capability.

    Environment form: ``ERP_PRO_HEALTH__<KEY>``, e.g. ``ERP_PRO_HEALTH__CACHE_TTL=2`` or
    ``ERP_PRO_HEALTH__DEPENDENCIES='{"cache": "redis://127.0.0.1:6379/0"}'``.
    """

    enabled: bool = True
    endpoints: bool = True
    """Mount ``/livez``, ``/readyz``, ``/startupz`` and ``/health`` under the web prefix."""
    cache_ttl: float = Field(default=1.0, ge=0, le=300)
    """Seconds a check's result is reused, so probe storms do not hammer dependencies."""
    default_timeout: float = Field(default=1.0, gt=0, le=60)
    """Seconds a check may take before it counts as failed (``timed out``)."""
    details_token: SecretStr | None = None
    """When set, check names, outputs and values are shown only to callers sending it in
    ``details_header`` (or ``Authorization: Bearer``); status codes stay public."""
    details_header: str = "X-Health-Token"
    dependencies: dict[str, str] = Field(default_factory=dict)
    """Checks by name for dependency URLs: redis://, postgresql://, sqlite:///, http(s)://."""
    dependency_warn_ms: float | None = Field(default=None, gt=0)
    """Round trip above which a dependency check warns."""
    disk_paths: list[str] = Field(default_factory=list)
    """Paths whose file system's free space is checked."""
    disk_warn_free_percent: float = Field(default=10.0, ge=0, le=100)
    disk_fail_free_percent: float = Field(default=5.0, ge=0, le=100)
    memory: bool = True
    """Report the process's resident memory (a ``memory`` readiness check)."""
    memory_warn_mb: float | None = Field(default=None, gt=0)
    memory_fail_mb: float | None = Field(default=None, gt=0)
    event_loop_lag: bool = True
    """Report event-loop lag (ASGI apps only)."""
    event_loop_lag_warn_ms: float | None = Field(default=100.0, gt=0)
    event_loop_lag_fail_ms: float | None = Field(default=None, gt=0)
    breakers: bool = True
    """Warn while a circuit breaker of the resilience capability is open."""
    drain_on_sigterm: bool = False
    """Opt-in: on SIGTERM fail readiness at once, then after ``drain_delay`` seconds hand
    the signal to the server's own handler. Off by default: servers own their signals."""
    drain_delay: float = Field(default=0.0, ge=0, le=300)

    @field_validator("details_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise ValueError("must be an HTTP header name")
        return value

    @field_validator("dependencies")
    @classmethod
    def _dependencies(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_.\-/]+(:[A-Za-z0-9_.\-/]+)?", name):
                raise ValueError(f"invalid check name {name!r}")
            scheme = url.split("://", 1)[0].lower() if "://" in url else ""
            if scheme not in _DEPENDENCY_SCHEMES:
                raise ValueError(
                    f"{name}: unsupported URL {url!r}; use redis://, postgresql://, "
                    "sqlite:/// or http(s)://"
                )
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> HealthConfig:
        if self.disk_warn_free_percent < self.disk_fail_free_percent:
            raise ValueError("disk_warn_free_percent must not be below disk_fail_free_percent")
        pairs = (
            ("memory_warn_mb", self.memory_warn_mb, self.memory_fail_mb),
            ("event_loop_lag_warn_ms", self.event_loop_lag_warn_ms, self.event_loop_lag_fail_ms),
        )
        for name, warn, fail in pairs:
            if warn is not None and fail is not None and warn > fail:
                raise ValueError(f"{name} must not be above its fail threshold")
        return self
