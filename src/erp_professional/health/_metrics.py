"""OpenTelemetry instruments of the health checks: duration per run and the latest status."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from ._result import CheckResult, Status

if TYPE_CHECKING:
    from ._check import Check

__all__ = ["HealthMetrics"]

STATUS_CODES = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


class _Statuses(Protocol):
    @property
    def checks(self) -> dict[str, Check]: ...

    def last_status(self, name: str) -> Status | None: ...


class HealthMetrics:
    """``erp_professional.health.check.duration`` (histogram, seconds, by check and status)
    and ``erp_professional.health.check.status`` (gauge: 0 pass, 1 warn, 2 fail)."""

    def __init__(self, registry: _Statuses, provider: MeterProvider | None = None) -> None:
        meter = (
            provider.get_meter("erp_professional.health")
            if provider is not None
            else metrics.get_meter("erp_professional.health")
        )
        self._registry = weakref.ref(registry)
        self.duration = meter.create_histogram(
            "erp_professional.health.check.duration",
            unit="s",
            description="Duration of health check runs, by check and status",
        )
        self.status = meter.create_observable_gauge(
            "erp_professional.health.check.status",
            callbacks=[self._observe],
            description="Latest status of each health check: 0 pass, 1 warn, 2 fail",
        )

    def record(self, check: Check, result: CheckResult) -> None:
        self.duration.record(
            result.duration,
            {"check": check.name, "status": result.status.value, "critical": check.critical},
        )

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        registry = self._registry()
        if registry is None:
            return []
        observations = []
        for name in registry.checks:
            status = registry.last_status(name)
            if status is not None:
                observations.append(Observation(STATUS_CODES[status], {"check": name}))
        return observations
