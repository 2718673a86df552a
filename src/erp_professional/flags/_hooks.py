"""Audit records, change notices and exposures, with their hooks.

Hooks are plain callables; an exception in one is logged and never breaks the caller.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, MeterProvider

__all__ = ["AuditRecord", "Exposure", "ExposureTracker", "FlagChange", "Hooks"]

log = logging.getLogger("erp_professional.flags")
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who changed what, when: ``action`` is set, delete, kill or replace."""

    action: str
    flag: str
    actor: str
    at: datetime
    before: dict[str, object] | None
    after: dict[str, object] | None
    reason: str = ""
    version: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "flag": self.flag,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class FlagChange:
    """Flags whose definition changed in a new snapshot (added, changed or removed)."""

    names: frozenset[str]
    version: int
    source: str = "local"


@dataclass(frozen=True, slots=True)
class Exposure:
    """One sampled exposure of a context to a flag's variant (for A/B analysis)."""

    flag: str
    variant: str
    enabled: bool
    at: datetime
    context: dict[str, object] = field(default_factory=dict)


class Hooks(Generic[E]):
    """A list of callbacks; ``add`` returns a function that removes the callback."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._items: tuple[Callable[[E], None], ...] = ()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, callback: Callable[[E], None]) -> Callable[[], None]:
        with self._lock:
            self._items = (*self._items, callback)

        def remove() -> None:
            with self._lock:
                self._items = tuple(c for c in self._items if c is not callback)

        return remove

    def emit(self, event: E) -> None:
        for callback in self._items:
            try:
                callback(event)
            except Exception:
                log.exception("flags %s hook %r failed", self._kind, callback)


class ExposureTracker:
    """Counts exposures per (flag, variant) and calls exposure hooks, sampled."""

    def __init__(
        self,
        sample_rate: float,
        rng: random.Random,
        clock: Callable[[], datetime],
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"exposure sample rate must be within 0..1, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self.hooks: Hooks[Exposure] = Hooks("exposure")
        self._rng = rng
        self._clock = clock
        self._counter: Counter | None = None
        self._meter_provider = meter_provider

    def _metric(self) -> Counter:
        if self._counter is None:
            from opentelemetry import metrics

            meter = metrics.get_meter("erp_professional.flags", meter_provider=self._meter_provider)
            self._counter = meter.create_counter(
                "erp_professional.flags.exposures",
                unit="{exposure}",
                description="Sampled flag evaluations by flag and variant",
            )
        return self._counter

    def record(self, flag: str, variant: str, enabled: bool, context: Mapping[str, object]) -> None:
        rate = self.sample_rate
        if rate <= 0.0 or (rate < 1.0 and self._rng.random() >= rate):
            return
        self._metric().add(1, {"flag": flag, "variant": variant})
        if self.hooks:
            self.hooks.emit(Exposure(flag, variant, enabled, self._clock(), dict(context)))
