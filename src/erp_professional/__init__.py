"""erp_professional: the production layer for Python web services.

Every public name is importable from here; the capability behind it is imported the first
time the name is used, so ``import erp_professional`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import ProfessionalConfig
    from .events import (
        Aggregate,
        AsyncEventStore,
        AsyncRepository,
        EventStore,
        NewEvent,
        RecordedEvent,
        Repository,
        WrongExpectedVersion,
    )
    from .flags import AsyncFeatureFlags, FeatureFlags
    from .health import HealthRegistry
    from .hub import Professional, integrate
    from .observability import (
        capture_exception,
        capture_message,
        logger,
        metrics,
        span,
        traced,
    )
    from .queue import AsyncQueue, Job, JobStatus, Queue, Worker, current_job
    from .resilience import (
        BulkheadFullError,
        CallTimeoutError,
        CircuitBreaker,
        CircuitOpenError,
        Policy,
        bulkhead,
        circuit_breaker,
        fallback,
        retry,
        timeout,
    )

_EXPORTS: dict[str, str] = {
    "Aggregate": "erp_professional.events",
    "AsyncEventStore": "erp_professional.events",
    "AsyncFeatureFlags": "erp_professional.flags",
    "AsyncQueue": "erp_professional.queue",
    "AsyncRepository": "erp_professional.events",
    "BulkheadFullError": "erp_professional.resilience",
    "CallTimeoutError": "erp_professional.resilience",
    "CircuitBreaker": "erp_professional.resilience",
    "CircuitOpenError": "erp_professional.resilience",
    "EventStore": "erp_professional.events",
    "FeatureFlags": "erp_professional.flags",
    "HealthRegistry": "erp_professional.health",
    "Job": "erp_professional.queue",
    "JobStatus": "erp_professional.queue",
    "NewEvent": "erp_professional.events",
    "Policy": "erp_professional.resilience",
    "Professional": "erp_professional.hub",
    "ProfessionalConfig": "erp_professional.config",
    "Queue": "erp_professional.queue",
    "RecordedEvent": "erp_professional.events",
    "Repository": "erp_professional.events",
    "Worker": "erp_professional.queue",
    "WrongExpectedVersion": "erp_professional.events",
    "bulkhead": "erp_professional.resilience",
    "capture_exception": "erp_professional.observability",
    "capture_message": "erp_professional.observability",
    "circuit_breaker": "erp_professional.resilience",
    "current_job": "erp_professional.queue",
    "fallback": "erp_professional.resilience",
    "integrate": "erp_professional.hub",
    "logger": "erp_professional.observability",
    "metrics": "erp_professional.observability",
    "retry": "erp_professional.resilience",
    "span": "erp_professional.observability",
    "timeout": "erp_professional.resilience",
    "traced": "erp_professional.observability",
}

__all__ = [
    "Aggregate",
    "AsyncEventStore",
    "AsyncFeatureFlags",
    "AsyncQueue",
    "AsyncRepository",
    "BulkheadFullError",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "EventStore",
    "FeatureFlags",
    "HealthRegistry",
    "Job",
    "JobStatus",
    "NewEvent",
    "Policy",
    "Professional",
    "ProfessionalConfig",
    "Queue",
    "RecordedEvent",
    "Repository",
    "Worker",
    "WrongExpectedVersion",
    "__version__",
    "bulkhead",
    "capture_exception",
    "capture_message",
    "circuit_breaker",
    "current_job",
    "fallback",
    "integrate",
    "logger",
    "metrics",
    "retry",
    "span",
    "timeout",
    "traced",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'erp_professional' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
