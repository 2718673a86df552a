"""Built-in checks of the process and its host: disk free, memory, event-loop lag."""

from __future__ import annotations

import asyncio
import collections
import math
import os
import shutil
import sys
import time

from ._result import CheckResult

__all__ = ["DiskCheck", "EventLoopLagCheck", "MemoryCheck", "grade"]

_GIB = 1024**3
_MIB = 1024**2


def _threshold(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def check_thresholds(warn: float | None, fail: float | None, *, higher_is_worse: bool) -> None:
    warn = _threshold("warn", warn)
    fail = _threshold("fail", fail)
    if warn is not None and fail is not None:
        if higher_is_worse and warn > fail:
            raise ValueError(f"warn ({warn}) must not be above fail ({fail})")
        if not higher_is_worse and warn < fail:
            raise ValueError(f"warn ({warn}) must not be below fail ({fail})")


def grade(
    value: float,
    unit: str,
    *,
    warn: float | None,
    fail: float | None,
    what: str,
    higher_is_worse: bool = True,
) -> CheckResult:
    """pass/warn/fail for ``value`` against the thresholds (crossing means reaching)."""
    shown = round(value, 3)

    def crossed(limit: float | None) -> bool:
        if limit is None:
            return False
        return value >= limit if higher_is_worse else value <= limit

    word = "at or above" if higher_is_worse else "at or below"
    sep = "" if unit in ("", "%") else " "
    if crossed(fail):
        return CheckResult.fail(
            f"{what} {shown:g}{sep}{unit} is {word} {fail:g}{sep}{unit}", shown, unit
        )
    if crossed(warn):
        return CheckResult.warn(
            f"{what} {shown:g}{sep}{unit} is {word} {warn:g}{sep}{unit}", shown, unit
        )
    return CheckResult.ok(shown, unit)


class DiskCheck:
    """Free space on the file system holding ``path``, in percent of its size."""

    component_type = "system"

    def __init__(
        self, path: str = ".", *, warn_free_percent: float = 10.0, fail_free_percent: float = 5.0
    ) -> None:
        check_thresholds(warn_free_percent, fail_free_percent, higher_is_worse=False)
        if warn_free_percent > 100:
            raise ValueError("warn_free_percent must be at most 100")
        self.path = os.fspath(path)
        self.warn = float(warn_free_percent)
        self.fail = float(fail_free_percent)

    def __call__(self) -> CheckResult:
        usage = shutil.disk_usage(self.path)
        percent = 100.0 * usage.free / usage.total if usage.total else 0.0
        result = grade(
            percent,
            "%",
            warn=self.warn,
            fail=self.fail,
            what=f"free space on {self.path}",
            higher_is_worse=False,
        )
        if result.output:
            detail = f" ({usage.free / _GIB:.1f} GiB free of {usage.total / _GIB:.1f} GiB)"
            return CheckResult(
                result.status, result.output + detail, result.observed_value, result.observed_unit
            )
        return result

    def __repr__(self) -> str:
        return f"DiskCheck({self.path!r}, warn<{self.warn:g}%, fail<{self.fail:g}%)"


def resident_memory_bytes() -> tuple[int, bool]:
    """The process's resident memory in bytes, and whether it is the current value (Linux)
    rather than the peak (elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE"), True
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (peak if sys.platform == "darwin" else peak * 1024), False


class MemoryCheck:
    """Resident memory of this process in MiB, against optional thresholds."""

    component_type = "system"

    def __init__(self, *, warn_mb: float | None = None, fail_mb: float | None = None) -> None:
        check_thresholds(warn_mb, fail_mb, higher_is_worse=True)
        self.warn = warn_mb
        self.fail = fail_mb

    def __call__(self) -> CheckResult:
        rss, current = resident_memory_bytes()
        what = "resident memory" if current else "peak resident memory"
        return grade(rss / _MIB, "MiB", warn=self.warn, fail=self.fail, what=what)


class EventLoopLagCheck:
    """How late the event loop runs a callback, in milliseconds.

    Started (``await check.start()``, done by ``integrate()`` for ASGI apps) it samples the
    loop every ``sample_interval`` seconds and reports the worst lag of the last few
    samples; otherwise each run measures one round trip through the loop.
    """

    component_type = "system"

    def __init__(
        self,
        *,
        warn_ms: float | None = 100.0,
        fail_ms: float | None = None,
        sample_interval: float = 0.25,
        window: int = 8,
    ) -> None:
        check_thresholds(warn_ms, fail_ms, higher_is_worse=True)
        if not (sample_interval > 0) or window < 1:
            raise ValueError("sample_interval must be > 0 and window >= 1")
        self.warn = warn_ms
        self.fail = fail_ms
        self.sample_interval = float(sample_interval)
        self._samples: collections.deque[float] = collections.deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start sampling on the running loop (idempotent)."""
        self.start_on(asyncio.get_running_loop())

    def start_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start sampling on ``loop`` (idempotent)."""
        if self._task is None or self._task.done():
            self._samples.clear()
            self._task = loop.create_task(self._sample())

    def cancel(self) -> None:
        """Stop sampling (the task is cancelled; its loop reaps it)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    async def stop(self) -> None:
        """Stop sampling and wait for the sampling task to end."""
        task = self._task
        self.cancel()
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([task])

    async def _sample(self) -> None:
        interval = self.sample_interval
        while True:
            begin = time.perf_counter()
            await asyncio.sleep(interval)
            self._samples.append(max(0.0, time.perf_counter() - begin - interval))

    def _monitoring(self) -> bool:
        task = self._task
        if task is None or task.done():
            return False
        return task.get_loop() is asyncio.get_running_loop() and bool(self._samples)

    async def __call__(self) -> CheckResult:
        if self._monitoring():
            lag = max(self._samples)
        else:
            begin = time.perf_counter()
            await asyncio.sleep(0)
            lag = time.perf_counter() - begin
        return grade(lag * 1000.0, "ms", warn=self.warn, fail=self.fail, what="event-loop lag")
