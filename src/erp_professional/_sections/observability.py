from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from ._base import Section

_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def _paths(value: list[str]) -> list[str]:
    for item in value:
        if not item.startswith("/") and not item.startswith("{prefix}"):
            raise ValueError(f"{item!r} must be a path starting with '/' (or '{{prefix}}')")
    return value


class TracingConfig(Section):
    """OpenTelemetry tracing: exporter, sampling and the HTTP server span."""

    enabled: bool = True
    exporter: Literal["none", "console", "otlp-http", "otlp-grpc", "memory"] = "none"
    endpoint: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    excluded_paths: list[str] = Field(default_factory=lambda: ["{prefix}"])
    max_queue_size: int = Field(default=2048, ge=1, le=1_000_000)
    max_export_batch_size: int = Field(default=512, ge=1, le=100_000)
    schedule_delay: float = Field(default=1.0, gt=0.0, le=300.0)
    export_timeout: float = Field(default=10.0, gt=0.0, le=300.0)

    @field_validator("excluded_paths")
    @classmethod
    def _excluded(cls, value: list[str]) -> list[str]:
        return _paths(value)


class MetricsConfig(Section):
    """OpenTelemetry metrics exposed in Prometheus text format."""

    enabled: bool = True
    endpoint: bool = True
    multiprocess_dir: str | None = None
    multiprocess_interval: float = Field(default=1.0, gt=0.0, le=300.0)


class LoggingConfig(Section):
    """loguru set up once: format, level, redaction and the access log."""

    enabled: bool = True
    format: Literal["json", "console", "auto"] = "auto"
    level: str = "INFO"
    stream: Literal["stderr", "stdout"] = "stderr"
    intercept_stdlib: bool = True
    propagate_context: bool = True
    redact_keys: list[str] = Field(default_factory=list)
    redact_patterns: list[str] = Field(default_factory=list)
    access_log: bool = True
    access_log_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    slow_request_ms: float | None = Field(default=1000.0, ge=0.0)
    access_log_excluded_paths: list[str] = Field(default_factory=lambda: ["{prefix}"])

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in _LEVELS:
            raise ValueError(f"must be one of {', '.join(_LEVELS)}")
        return upper

    @field_validator("redact_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return value

    @field_validator("access_log_excluded_paths")
    @classmethod
    def _excluded(cls, value: list[str]) -> list[str]:
        return _paths(value)


class SentryConfig(Section):
    """Sentry error tracking (off without a DSN)."""

    dsn: SecretStr | None = None
    environment: str | None = None
    release: str | None = None
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    traces_sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    send_default_pii: bool = False
    report_errors: bool = True


class ObservabilityConfig(Section):
    """Settings of the observability capability."""

    enabled: bool = True
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    sentry: SentryConfig = Field(default_factory=SentryConfig)
