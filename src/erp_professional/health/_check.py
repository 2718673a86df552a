"""A registered check: the callable and how the registry runs and reports it."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["KINDS", "Check", "CheckFunction", "Kind", "validate_kinds"]

Kind = Literal["liveness", "readiness", "startup"]
KINDS: tuple[Kind, ...] = ("liveness", "readiness", "startup")

CheckFunction = Callable[[], object] | Callable[[], Awaitable[object]]
"""A check: sync or async, no arguments, returns a CheckResult, a Status, a bool or None
(raising is a fail with the exception's message)."""

_NAME = re.compile(r"[A-Za-z0-9_.\-/]+(:[A-Za-z0-9_.\-/]+)?")


def validate_kinds(kinds: Iterable[str] | str) -> frozenset[Kind]:
    if isinstance(kinds, str):
        kinds = (kinds,)
    result: set[Kind] = set()
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown probe kind {kind!r}; use one of: {', '.join(KINDS)}")
        result.add(kind)
    if not result:
        raise ValueError("a check needs at least one kind: " + ", ".join(KINDS))
    return frozenset(result)


@dataclass(frozen=True, slots=True)
class Check:
    """A check as registered: ``name`` is ``component`` or ``component:measurement``."""

    name: str
    function: CheckFunction
    kinds: frozenset[Kind]
    critical: bool
    timeout: float
    interval: float | None
    component_type: str | None
    is_async: bool
    async_twin: Callable[[], Awaitable[object]] | None = None
    """An ``acheck()`` coroutine method of a sync check, used on long-lived event loops."""

    @classmethod
    def build(
        cls,
        name: str,
        function: CheckFunction,
        *,
        kinds: Iterable[str] | str,
        critical: bool,
        timeout: float,
        interval: float | None,
        component_type: str | None,
    ) -> Check:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"invalid check name {name!r}: use letters, digits and _ . - /, "
                "optionally 'component:measurement'"
            )
        if not callable(function):
            raise TypeError(f"check {name!r} is not callable: {function!r}")
        if not _positive(timeout):
            raise ValueError(f"check {name!r}: timeout must be a positive number of seconds")
        if interval is not None and not _positive(interval):
            raise ValueError(f"check {name!r}: interval must be a positive number of seconds")
        is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004
        )
        if component_type is None:
            declared = getattr(function, "component_type", None)
            component_type = declared if isinstance(declared, str) else None
        twin = getattr(function, "acheck", None)
        if is_async or not inspect.iscoroutinefunction(twin):
            twin = None
        return cls(
            name,
            function,
            validate_kinds(kinds),
            bool(critical),
            float(timeout),
            None if interval is None else float(interval),
            component_type,
            is_async,
            twin,
        )

    @property
    def component(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def measurement(self) -> str:
        """The measurement part of the health+json key (``status`` when not named)."""
        parts = self.name.split(":", 1)
        return parts[1] if len(parts) == 2 else "status"

    @property
    def key(self) -> str:
        """The health+json ``checks`` key, ``component:measurement``."""
        return f"{self.component}:{self.measurement}"


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
