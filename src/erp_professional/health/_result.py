"""Check results: the status of one check with what it observed, and how a check's return
value (a result, a status, a bool, ``None`` or an exception) becomes one."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

__all__ = ["CheckResult", "Status", "worst"]


class Status(enum.Enum):
    """The IETF health+json status of a check or of the whole service."""

    PASS = "pass"  # noqa: S105
    WARN = "warn"
    FAIL = "fail"

    @property
    def ok(self) -> bool:
        """``True`` for pass and warn: the service still answers probes with 200."""
        return self is not Status.FAIL


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


def worst(statuses: list[Status]) -> Status:
    """The worst of ``statuses`` (fail over warn over pass); ``PASS`` when empty."""
    return max(statuses, key=_RANK.__getitem__, default=Status.PASS)


Observed = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one run of a check found.

    ``observed_value``/``observed_unit`` are what was measured (``12.5``/``"ms"``);
    ``output`` is a short human explanation, mainly for warn and fail; ``time`` is when
    the check ran (UTC) and ``duration`` how long it took in seconds (set by the registry).
    """

    status: Status
    output: str | None = None
    observed_value: Observed = None
    observed_unit: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            raise TypeError(f"status must be a Status, got {self.status!r}")
        value = self.observed_value
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"observed_value must be finite, got {value!r}")

    @classmethod
    def ok(
        cls, observed_value: Observed = None, unit: str | None = None, output: str | None = None
    ) -> CheckResult:
        """A passing result."""
        return cls(Status.PASS, output, observed_value, unit)

    @classmethod
    def warn(
        cls, output: str, observed_value: Observed = None, unit: str | None = None
    ) -> CheckResult:
        """A degraded result: reported, but probes still answer 200."""
        return cls(Status.WARN, output, observed_value, unit)

    @classmethod
    def fail(
        cls, output: str, observed_value: Observed = None, unit: str | None = None
    ) -> CheckResult:
        """A failing result: a critical check failing makes probes answer 503."""
        return cls(Status.FAIL, output, observed_value, unit)

    def with_timing(self, time: datetime, duration: float) -> CheckResult:
        return replace(self, time=time, duration=duration)

    def as_warning(self) -> CheckResult:
        """This result with fail lowered to warn (a non-critical check failing)."""
        if self.status is Status.FAIL:
            return replace(self, status=Status.WARN)
        return self


def to_result(value: object) -> CheckResult:
    """Turn what a check returned into a :class:`CheckResult`.

    ``None`` and ``True`` pass, ``False`` fails, a :class:`Status` or a ``"pass"``/``"warn"``/
    ``"fail"`` string is taken as is, and so is any object whose ``status`` is one of those
    or whose ``healthy`` is a bool (with its ``output`` or ``message``, ``observed_value``,
    ``observed_unit``); anything else is a programming error reported as fail.
    """
    if isinstance(value, CheckResult):
        return value
    if value is None or value is True:
        return CheckResult(Status.PASS)
    if value is False:
        return CheckResult(Status.FAIL, "check returned False")
    if isinstance(value, Status):
        return CheckResult(value)
    if isinstance(value, str) and value in ("pass", "warn", "fail"):
        return CheckResult(Status(value))
    status = _status_of(getattr(value, "status", None))
    if status is None:
        healthy = getattr(value, "healthy", None)
        if isinstance(healthy, bool):
            status = Status.PASS if healthy else Status.FAIL
    if status is not None:
        return _from_object(value, status)
    return CheckResult(
        Status.FAIL,
        f"check returned {type(value).__name__}, expected CheckResult, Status, bool or None",
    )


def _status_of(value: object) -> Status | None:
    if isinstance(value, Status):
        return value
    if isinstance(value, str) and value in ("pass", "warn", "fail"):
        return Status(value)
    return None


def _from_object(value: object, status: Status) -> CheckResult:
    """A result from any object with a pass/warn/fail ``status`` (a component's own health
    type): ``output`` or ``message``, ``observed_value`` and ``observed_unit`` are used
    when present and of the right type."""
    output = getattr(value, "output", None)
    if not isinstance(output, str):
        output = getattr(value, "message", None)
    observed = getattr(value, "observed_value", None)
    if isinstance(observed, float) and not math.isfinite(observed):
        observed = None
    if not isinstance(observed, int | float | str | bool):
        observed = None
    unit = getattr(value, "observed_unit", None)
    return CheckResult(
        status,
        output if isinstance(output, str) else None,
        observed,
        unit if isinstance(unit, str) else None,
    )


def from_exception(exc: BaseException) -> CheckResult:
    """A failing result whose output is the exception's message (its type if it has none)."""
    message = str(exc).strip()
    name = type(exc).__name__
    return CheckResult(Status.FAIL, f"{name}: {message}" if message else name)
