"""The registry: checks by name, run concurrently under their timeouts, cached briefly."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, overload

from ._check import Check, CheckFunction, Kind, validate_kinds
from ._flight import Outcome, await_thread, call_in_thread, outcome
from ._metrics import HealthMetrics
from ._result import CheckResult, Status, from_exception, to_result, worst

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["DRAIN_CHECK", "HealthRegistry", "HealthReport"]

log = logging.getLogger("erp_professional.health")

F = TypeVar("F", bound=CheckFunction)
DRAIN_CHECK = "shutdown"
"""The name of the entry that fails readiness while the service drains."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The outcome of one probe: the overall status and each check's result.

    ``results`` holds each check's own result (a non-critical check may fail there while
    ``status`` is only warn). ``excluded`` lists the checks left out on request and
    ``unknown_excluded`` the requested exclusions that match no check.
    """

    kind: Kind | None
    status: Status
    results: dict[str, CheckResult]
    checks: dict[str, Check]
    excluded: tuple[str, ...] = ()
    unknown_excluded: tuple[str, ...] = ()
    draining: bool = False
    time: datetime = field(default_factory=_utcnow)

    @property
    def ok(self) -> bool:
        """``True`` when probes should answer 200 (pass or warn)."""
        return self.status.ok


class HealthRegistry:
    """Health checks of one service, run for liveness, readiness and startup probes.

    Checks run concurrently (async checks on the running loop, sync checks in their own
    threads), each bounded by its timeout: a hung check yields fail ``timed out`` and never
    a hung probe, and a check still running from an earlier probe is joined, not started
    again. Results are reused for ``cache_ttl`` seconds (``interval`` seconds for a check
    registered with one), so probe storms do not hammer dependencies.
    """

    def __init__(
        self,
        *,
        cache_ttl: float = 1.0,
        default_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        meter_provider: MeterProvider | None = None,
        prefer_async: bool = False,
    ) -> None:
        if not (0 <= cache_ttl < math.inf):
            raise ValueError(
                f"cache_ttl must be a finite number of seconds >= 0, got {cache_ttl!r}"
            )
        if not (0 < default_timeout < math.inf):
            raise ValueError(
                f"default_timeout must be a finite number of seconds > 0, got {default_timeout!r}"
            )
        self.prefer_async = prefer_async
        """Let :meth:`arun` use checks' ``acheck()`` twins (set for ASGI apps, whose event
        loop lives as long as the service; :meth:`run` always uses the sync checks)."""
        self.cache_ttl = float(cache_ttl)
        self.default_timeout = float(default_timeout)
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}
        self._by_kind: dict[Kind | None, tuple[Check, ...]] = {}
        self._cache: dict[str, tuple[float, CheckResult]] = {}
        self._threads: dict[str, cf.Future[Outcome]] = {}
        self._tasks: dict[str, asyncio.Future[Outcome]] = {}
        self._last_status: dict[str, Status] = {}
        self.metrics = HealthMetrics(self, meter_provider)
        self.draining = False
        self._reindex()

    # -- registration --------------------------------------------------------------------
    @overload
    def register(
        self,
        name: str,
        check: None = None,
        *,
        kinds: Iterable[Kind] | Kind = ("readiness",),
        critical: bool = True,
        timeout: float | None = None,
        interval: float | None = None,
        component_type: str | None = None,
    ) -> Callable[[F], F]: ...

    @overload
    def register(
        self,
        name: str,
        check: F,
        *,
        kinds: Iterable[Kind] | Kind = ("readiness",),
        critical: bool = True,
        timeout: float | None = None,
        interval: float | None = None,
        component_type: str | None = None,
    ) -> F: ...

    def register(
        self,
        name: str,
        check: F | None = None,
        *,
        kinds: Iterable[Kind] | Kind = ("readiness",),
        critical: bool = True,
        timeout: float | None = None,
        interval: float | None = None,
        component_type: str | None = None,
    ) -> F | Callable[[F], F]:
        """Register ``check`` under ``name``; without ``check``, a decorator that does.

        ``kinds``: the probes that run it (``liveness``, ``readiness``, ``startup``).
        ``critical=False``: its failure only degrades the service to warn. ``timeout``:
        seconds before it counts as failed (default ``default_timeout``). ``interval``:
        seconds its result is reused instead of ``cache_ttl`` (for expensive checks).
        """

        def add(function: F) -> F:
            if name == DRAIN_CHECK:
                raise ValueError(f"{DRAIN_CHECK!r} is reserved for the drain entry of readiness")
            built = Check.build(
                name,
                function,
                kinds=kinds,
                critical=critical,
                timeout=self.default_timeout if timeout is None else timeout,
                interval=interval,
                component_type=component_type,
            )
            with self._lock:
                if name in self._checks:
                    raise ValueError(f"a health check named {name!r} is already registered")
                self._checks[name] = built
                self._reindex()
            return function

        if check is None:
            return add
        return add(check)

    def unregister(self, name: str) -> None:
        """Remove the check called ``name`` (``KeyError`` if there is none)."""
        with self._lock:
            if name not in self._checks:
                raise KeyError(f"no health check named {name!r}")
            del self._checks[name]
            self._cache.pop(name, None)
            self._reindex()

    @property
    def checks(self) -> dict[str, Check]:
        """The registered checks by name (a copy)."""
        return dict(self._checks)

    def _reindex(self) -> None:
        every = tuple(self._checks.values())
        index: dict[Kind | None, tuple[Check, ...]] = {None: every}
        for kind in ("liveness", "readiness", "startup"):
            index[kind] = tuple(c for c in every if kind in c.kinds)
        self._by_kind = index

    # -- draining ------------------------------------------------------------------------
    def begin_drain(self) -> None:
        """Fail readiness from now on (shutdown has begun); liveness is unaffected."""
        if not self.draining:
            log.info("draining: readiness now fails")
        self.draining = True

    def end_drain(self) -> None:
        """Let readiness pass again (a cancelled shutdown, or tests)."""
        self.draining = False

    # -- running -------------------------------------------------------------------------
    def run(self, kind: Kind | None = None, exclude: Iterable[str] = ()) -> HealthReport:
        """Run the checks of ``kind`` (all checks when ``None``) from synchronous code."""
        kind, exclude_set, selected = self._select(kind, exclude)
        cached = self._cached_report(kind, exclude_set, selected)
        if cached is not None:
            return cached
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._arun(kind, exclude_set, twins=False))
        raise RuntimeError("HealthRegistry.run() inside a running event loop: await arun()")

    async def arun(self, kind: Kind | None = None, exclude: Iterable[str] = ()) -> HealthReport:
        """Run the checks of ``kind`` (all checks when ``None``) concurrently."""
        return await self._arun(kind, exclude, twins=self.prefer_async)

    async def _arun(
        self, kind: Kind | None, exclude: Iterable[str], *, twins: bool
    ) -> HealthReport:
        kind, exclude_set, selected = self._select(kind, exclude)
        cached = self._cached_report(kind, exclude_set, selected)
        if cached is not None:
            return cached
        now = self._clock()
        results: dict[str, CheckResult] = {}
        stale: list[Check] = []
        for check in selected:
            hit = self._cache.get(check.name)
            if hit is not None and hit[0] > now:
                results[check.name] = hit[1]
            else:
                stale.append(check)
        fresh = await asyncio.gather(*(self._run_one(check, twins) for check in stale))
        for check, result in zip(stale, fresh, strict=True):
            results[check.name] = result
        ordered = {c.name: results[c.name] for c in selected}
        return self._report(kind, exclude_set, selected, ordered)

    def cached_status(self, kind: Kind | None) -> Status | None:
        """The status of ``kind`` from fresh cached results alone; ``None`` when a check
        must run. The cheap path of probes that want only the status code."""
        checks = self._by_kind.get(kind)
        if checks is None:
            raise ValueError(f"unknown probe kind {kind!r}")
        if self.draining and kind in (None, "readiness"):
            return Status.FAIL
        status = Status.PASS
        if checks:
            now = self._clock()
            cache = self._cache
            for check in checks:
                hit = cache.get(check.name)
                if hit is None or hit[0] <= now:
                    return None
                found = hit[1].status
                if found is Status.FAIL:
                    if check.critical:
                        return Status.FAIL
                    found = Status.WARN
                if found is Status.WARN:
                    status = Status.WARN
        return status

    def _select(
        self, kind: Kind | None, exclude: Iterable[str]
    ) -> tuple[Kind | None, frozenset[str], tuple[Check, ...]]:
        if kind is not None:
            (kind,) = validate_kinds((kind,))
        if isinstance(exclude, str):
            exclude = (exclude,)
        exclude_set = frozenset(exclude)
        checks = self._by_kind[kind]
        if kind == "readiness" and self.draining:
            checks = ()
        if exclude_set:
            checks = tuple(c for c in checks if c.name not in exclude_set)
        return kind, exclude_set, checks

    def _cached_report(
        self, kind: Kind | None, exclude: frozenset[str], selected: tuple[Check, ...]
    ) -> HealthReport | None:
        """The report from cached results alone, or ``None`` if any result is stale."""
        if not selected:
            return self._report(kind, exclude, selected, {})
        now = self._clock()
        results: dict[str, CheckResult] = {}
        cache = self._cache
        for check in selected:
            hit = cache.get(check.name)
            if hit is None or hit[0] <= now:
                return None
            results[check.name] = hit[1]
        return self._report(kind, exclude, selected, results)

    def _report(
        self,
        kind: Kind | None,
        exclude: frozenset[str],
        selected: tuple[Check, ...],
        results: dict[str, CheckResult],
    ) -> HealthReport:
        checks = {c.name: c for c in selected}
        statuses = [
            r.status if checks[name].critical else r.as_warning().status
            for name, r in results.items()
        ]
        draining = self.draining and kind in (None, "readiness")
        if draining:
            drain = CheckResult(
                Status.FAIL, "the service is shutting down", time=self._now(), duration=0.0
            )
            results = {DRAIN_CHECK: drain, **results}
            statuses.append(Status.FAIL)
        known = self._checks
        return HealthReport(
            kind=kind,
            status=worst(statuses),
            results=results,
            checks=checks,
            excluded=tuple(sorted(n for n in exclude if n in known)) if exclude else (),
            unknown_excluded=tuple(sorted(n for n in exclude if n not in known)) if exclude else (),
            draining=draining,
            time=self._now(),
        )

    async def _run_one(self, check: Check, twins: bool) -> CheckResult:
        started = self._now()
        begin = time.perf_counter()
        own = True  # whether this call started the run (joined runs are measured once)
        try:
            if check.is_async or (twins and check.async_twin is not None):
                task, own = self._async_flight(check)
                value, error = await asyncio.wait_for(asyncio.shield(task), check.timeout)
            else:
                future, own = self._thread_flight(check)
                value, error = await await_thread(future, check.timeout)
            result = to_result(value) if error is None else from_exception(error)
        except TimeoutError:
            result = CheckResult.fail(f"timed out after {check.timeout:g}s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = from_exception(exc)
        duration = time.perf_counter() - begin
        result = result.with_timing(started, duration)
        ttl = self.cache_ttl if check.interval is None else check.interval
        with self._lock:
            if self._checks.get(check.name) is check:
                self._cache[check.name] = (self._clock() + ttl, result)
            previous = self._last_status.get(check.name)
            self._last_status[check.name] = result.status
        if previous is not None and previous is not result.status:
            level = logging.INFO if result.status is Status.PASS else logging.WARNING
            log.log(
                level,
                "health check %s: %s -> %s%s",
                check.name,
                previous.value,
                result.status.value,
                f" ({result.output})" if result.output else "",
            )
        if own:
            self.metrics.record(check, result)
        return result

    def _async_flight(self, check: Check) -> tuple[asyncio.Future[Outcome], bool]:
        """The running task of this check on this loop, started if there is none, and
        whether it was started now."""
        loop = asyncio.get_running_loop()
        task = self._tasks.get(check.name)
        if task is not None and not task.done() and task.get_loop() is loop:
            return task, False
        function = check.function if check.is_async else check.async_twin
        assert function is not None
        task = asyncio.ensure_future(outcome(function))
        self._tasks[check.name] = task
        return task, True

    def _thread_flight(self, check: Check) -> tuple[cf.Future[Outcome], bool]:
        """The running thread of this check, started if there is none, and whether it
        was started now."""
        with self._lock:
            future = self._threads.get(check.name)
            if future is not None and not future.done():
                return future, False
            future = cf.Future()
            self._threads[check.name] = future
        thread = threading.Thread(
            target=call_in_thread,
            args=(check.function, future),
            name=f"erp-health-{check.name}",
            daemon=True,
        )
        thread.start()
        return future, True

    def last_status(self, name: str) -> Status | None:
        """The status of the latest completed run of ``name`` (``None`` before any)."""
        return self._last_status.get(name)

    def __repr__(self) -> str:
        return f"<HealthRegistry checks={sorted(self._checks)!r} draining={self.draining}>"
