"""Health checks: liveness, readiness and startup probes, dependency checks, IETF
health+json, and readiness that fails as soon as shutdown begins.

``integrate()`` registers a :class:`HealthRegistry` as ``pro.health`` and mounts
``/livez``, ``/readyz``, ``/startupz`` and ``/health`` under the web prefix; the registry
also works on its own.
"""

from __future__ import annotations

from ._check import KINDS, Check, CheckFunction, Kind
from ._dependencies import HttpCheck, RedisCheck, SqlCheck, dependency_check
from ._endpoints import HealthEndpoints
from ._format import HEALTH_JSON, health_json, probe_text
from ._registry import DRAIN_CHECK, HealthRegistry, HealthReport
from ._result import CheckResult, Status
from ._signals import drain_on_signal
from ._system import DiskCheck, EventLoopLagCheck, MemoryCheck
from ._thresholds import (
    BreakerLike,
    BreakersCheck,
    ThresholdCheck,
    projection_lag_check,
    queue_backlog_check,
)

__all__ = [
    "DRAIN_CHECK",
    "HEALTH_JSON",
    "KINDS",
    "BreakerLike",
    "BreakersCheck",
    "Check",
    "CheckFunction",
    "CheckResult",
    "DiskCheck",
    "EventLoopLagCheck",
    "HealthEndpoints",
    "HealthRegistry",
    "HealthReport",
    "HttpCheck",
    "Kind",
    "MemoryCheck",
    "RedisCheck",
    "SqlCheck",
    "Status",
    "ThresholdCheck",
    "dependency_check",
    "drain_on_signal",
    "health_json",
    "probe_text",
    "projection_lag_check",
    "queue_backlog_check",
]
