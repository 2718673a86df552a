"""The worker: an asyncio loop that leases jobs, runs them, renews and releases leases."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import random
import signal
import socket
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from opentelemetry import metrics, trace

from ._backend import AsyncBackend, FetchSpec, Outcome
from ._context import JobContext, reset_current, set_current
from ._cron import Schedule, due_fires
from ._errors import JobAborted, JobTimeout, UnknownTask
from ._model import Fetched, JobInfo, retry_delay
from ._queue import AsyncQueue, Queue
from ._telemetry import METRICS, QueueMetrics, job_span

__all__ = ["Worker"]

log = logging.getLogger("erp_professional.queue")

_MAX_WAIT = 0.5
"""Longest blocking wait for new jobs: bounds how long stop() waits for the fetcher."""
_SCHEDULER_WAIT = 5.0


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and wait for them; cancel again any that carried on (a Redis client
    call interrupted at the wrong moment can return normally instead of raising)."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("worker task %s had stopped on an error", task.get_name(), exc_info=error)


@dataclass
class _Running:
    info: JobInfo
    context: JobContext
    runner: asyncio.Task[None] | None = None
    inner: asyncio.Future[Any] | None = None
    done: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Worker:
    """Runs the jobs of one queue: ``await worker.start()`` / ``await worker.stop()``,
    ``async with worker:``, or ``worker.run()`` in a process of its own (SIGTERM/SIGINT
    stop it gracefully)."""

    def __init__(
        self,
        queue: Queue | AsyncQueue,
        *,
        concurrency: int | None = None,
        lease_time: float | None = None,
        heartbeat_interval: float | None = None,
        grace_period: float | None = None,
        max_stalls: int | None = None,
        scheduler: bool | None = None,
        worker_id: str | None = None,
        seed: int | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        cfg = queue.config
        self.queue = queue
        self.concurrency = concurrency or cfg.concurrency
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.lease_time = lease_time or cfg.lease_time
        self.heartbeat_interval = (
            heartbeat_interval or cfg.heartbeat_interval or self.lease_time / 3
        )
        if self.heartbeat_interval >= self.lease_time:
            raise ValueError("heartbeat_interval must be shorter than lease_time")
        self.grace_period = cfg.grace_period if grace_period is None else grace_period
        self.max_stalls = cfg.max_stalls if max_stalls is None else max_stalls
        self.scheduler = cfg.scheduler if scheduler is None else scheduler
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._core = queue.core
        self._metrics = METRICS if meter_provider is None else QueueMetrics(meter_provider)
        self._tracer = (
            None
            if tracer_provider is None
            else trace.get_tracer("erp_professional.queue", tracer_provider=tracer_provider)
        )
        self._rng = random.Random(seed) if seed is not None else queue.core.rng
        self._retention = self._core.retention()
        self._running: dict[str, _Running] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._fetch_idle = asyncio.Event()
        self._fetch_idle.set()
        self._slot = asyncio.Event()
        self._outbox: list[tuple[_Running, Outcome]] = []
        self._outbox_ready = asyncio.Event()
        self._outbox_idle = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._started = False
        self._backend: AsyncBackend | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counts = {"processed": 0, "failed": 0, "retried": 0, "reclaimed": 0, "aborted": 0}

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Start fetching and running jobs in the background of the running loop."""
        if self._started:
            raise RuntimeError("this worker was already started")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._backend = self.queue.async_backend()
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="erp-job")
        self._fetcher = asyncio.create_task(self._fetch_loop(), name="erp-queue-fetch")
        self._tasks = [
            asyncio.create_task(self._reporter_loop(), name="erp-queue-report"),
            asyncio.create_task(self._heartbeat_loop(), name="erp-queue-heartbeat"),
            asyncio.create_task(self._stats_loop(), name="erp-queue-stats"),
        ]
        if self.scheduler:
            self._tasks.append(asyncio.create_task(self._scheduler_loop(), name="erp-queue-cron"))
        log.info(
            "worker %s started on queue %r (concurrency %d)",
            self.id,
            self.queue.name,
            self.concurrency,
        )

    async def stop(self, grace_period: float | None = None) -> None:
        """Stop fetching, let running jobs finish up to the grace period, release the rest."""
        if not self._started:
            return
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        grace = self.grace_period if grace_period is None else grace_period
        if self._fetcher is not None:
            # A fetch in flight leases jobs: let its reply arrive and run them with the
            # others, rather than cancel it and leave them leased until the leases expire.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._fetch_idle.wait(), min(self.lease_time, max(1.0, grace))
                )
            await _cancel([self._fetcher])
        runners = [r.runner for r in self._running.values() if r.runner is not None]
        if runners:
            _, pending = await asyncio.wait(runners, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        while self._running:  # outcomes of finished jobs still on their way
            self._outbox_idle.clear()
            try:
                await asyncio.wait_for(self._outbox_idle.wait(), self.lease_time + 1)
            except TimeoutError:
                break
        await _cancel(self._tasks)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._backend is not None:
            await self._backend.aclose()
        log.info("worker %s stopped", self.id)
        self._stopped.set()

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve(self, *, handle_signals: bool = True) -> None:
        """Run until SIGTERM/SIGINT (or ``stop()``), then shut down gracefully."""
        await self.start()
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        installed: list[signal.Signals] = []
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, wake.set)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):
                    log.warning("cannot handle signal %s on this platform", sig)
        waiter = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait(
                [asyncio.create_task(wake.wait()), waiter], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    def run(self) -> None:
        """Blocking entry point for a worker process."""
        asyncio.run(self.serve())

    # -- fetching ---------------------------------------------------------------------
    def _spec(self, n: int) -> FetchSpec:
        return FetchSpec(
            self.id, n, int(self.lease_time * 1000), self.max_stalls, self._retention.keep_failed
        )

    async def _fetch_loop(self) -> None:
        assert self._backend is not None
        pause = 0.05
        published = False
        while not self._stopping:
            free = self.concurrency - len(self._running)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                if not published:
                    # The limits this worker's code declares, stored before it takes a job,
                    # so that every worker of the queue enforces the same ones.
                    await self._backend.set_limits(
                        self._core.limit_definitions(), self._core.now_ms()
                    )
                    published = True
                self._fetch_idle.clear()
                try:
                    fetched = await self._backend.fetch(self._spec(free), self._core.now_ms())
                finally:
                    self._fetch_idle.set()
                self._dispatch(fetched, started=True)
                if not fetched.jobs:
                    await self._backend.wait(self._wait_time(fetched))
                pause = 0.05
            except Exception:
                log.warning(
                    "queue %r: backend error while fetching; retrying in %.2f s",
                    self.queue.name,
                    pause,
                    exc_info=True,
                )
                await asyncio.sleep(pause * (1 + self._rng.random()))
                pause = min(pause * 2, 5.0)

    def _wait_time(self, fetched: Fetched) -> float:
        if fetched.next_wake_ms is None:
            return _MAX_WAIT
        return min(_MAX_WAIT, max(0.001, (fetched.next_wake_ms - self._core.now_ms()) / 1000))

    def _dispatch(self, fetched: Fetched, *, started: bool = False) -> None:
        """Run fetched jobs; while stopping, hand back those taken by a report (``started``:
        the fetch began before ``stop()``, whose grace period covers its jobs)."""
        if fetched.reclaimed:
            self.counts["reclaimed"] += fetched.reclaimed
            self._metrics.reclaimed.add(fetched.reclaimed, {"queue": self.queue.name})
            log.warning(
                "queue %r: reclaimed %d expired lease(s)", self.queue.name, fetched.reclaimed
            )
        for info in fetched.jobs:
            assert self._backend is not None
            assert self._loop is not None
            if self._stopping and not started:  # taken while shutting down: hand it back
                running = _Running(info, JobContext(info, self._backend, self._loop))
                self._running[info.id] = running
                running.runner = asyncio.create_task(self._release(running))
                continue
            running = _Running(info, JobContext(info, self._backend, self._loop))
            self._running[info.id] = running
            running.runner = asyncio.create_task(self._run(running), name=f"erp-job-{info.id}")

    # -- running ----------------------------------------------------------------------
    async def _run(self, running: _Running) -> None:
        info = running.info
        started = time.perf_counter()
        outcome: tuple[str, Any] = ("complete", "null")
        try:
            with job_span(self.queue.name, info.task, info.id, info.traceparent, self._tracer):
                result = await self._call(running)
            outcome = ("complete", json.dumps(result, allow_nan=False))
        except asyncio.CancelledError:
            if running.context.aborted and not self._cancelled_by_stop():
                outcome = ("aborted", None)
            else:
                await self._release(running)
                raise
        except JobAborted:
            outcome = ("aborted", None)
        except Exception as exc:
            outcome = ("aborted", None) if running.context.aborted else ("error", exc)
        finally:
            self._metrics.duration.record(
                time.perf_counter() - started, {"queue": self.queue.name, "task": info.task}
            )
        self._report(running, outcome)

    def _cancelled_by_stop(self) -> bool:
        task = asyncio.current_task()
        return self._stopping and task is not None and task.cancelling() > 0

    async def _call(self, running: _Running) -> Any:
        info = running.info
        spec = self._core.tasks.get(info.task)
        if spec is None:
            raise UnknownTask(f"no function is registered for task {info.task!r}")
        kwargs = spec.arguments(info.kwargs)
        token = set_current(running.context)
        try:
            if spec.is_async:
                inner: asyncio.Future[Any] = asyncio.ensure_future(spec.fn(**kwargs))
            else:
                assert self._loop is not None
                ctx = contextvars.copy_context()
                inner = self._loop.run_in_executor(
                    self._executor, lambda: ctx.run(spec.fn, **kwargs)
                )
        finally:
            reset_current(token)
        running.inner = inner
        timeout = info.timeout_ms / 1000 if info.timeout_ms > 0 else None
        if timeout is None:
            return await inner
        try:
            return await asyncio.wait_for(inner, timeout)
        except TimeoutError:
            raise JobTimeout(f"job {info.id} ({info.task}) ran longer than {timeout:g} s") from None

    async def _release(self, running: _Running) -> None:
        assert self._backend is not None
        try:
            await self._backend.release(running.info.id, running.info.token, self._core.now_ms())
            log.info("job %s (%s): lease released at shutdown", running.info.id, running.info.task)
        except Exception:
            log.warning(
                "job %s (%s): could not release its lease; it will be reclaimed when "
                "the lease expires",
                running.info.id,
                running.info.task,
                exc_info=True,
            )
        finally:
            self._forget(running)

    def _report(self, running: _Running, outcome: tuple[str, Any]) -> None:
        """Queue an outcome; the reporter sends all queued outcomes in one round trip."""
        info, (kind, value) = running.info, outcome
        now = self._core.now_ms()
        if kind == "complete":
            self._outbox.append((running, Outcome("complete", info.id, info.token, value)))
        else:
            fail_kind, retry_at, error, tb = self._failure(info, kind, value, now)
            self._outbox.append(
                (running, Outcome(fail_kind, info.id, info.token, "null", retry_at, error, tb))
            )
        self._outbox_ready.set()

    async def _reporter_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            batch, self._outbox = self._outbox, []
            if batch:
                await self._send(batch)
                self._outbox_idle.set()

    async def _send(self, batch: list[tuple[_Running, Outcome]]) -> None:
        assert self._backend is not None
        deadline = time.monotonic() + self.lease_time
        pause = 0.05
        outcomes = [outcome for _, outcome in batch]
        while True:
            spec = self._spec(0 if self._stopping else len(batch))
            try:
                oks, fetched = await self._backend.report(
                    outcomes, self._core.now_ms(), self._retention, spec
                )
                break
            except Exception:
                if time.monotonic() >= deadline:
                    log.error(
                        "could not report %d outcome(s) (%s); those jobs run again after "
                        "their leases expire",
                        len(batch),
                        ", ".join(o.job_id for o in outcomes),
                        exc_info=True,
                    )
                    for running, _ in batch:
                        self._forget(running)
                    return
                log.warning("reporting outcomes failed; retrying in %.2f s", pause)
                await asyncio.sleep(pause * (1 + self._rng.random()))
                pause = min(pause * 2, 2.0)
        for (running, outcome), ok in zip(batch, oks, strict=True):
            self._forget(running)
            self._account(running.info, outcome, ok)
        self._dispatch(fetched)

    def _account(self, info: JobInfo, outcome: Outcome, ok: bool) -> None:
        labels = {"queue": self.queue.name, "task": info.task}
        extra = {"job_id": info.id, "task": info.task}
        if not ok:
            log.warning(
                "job %s (%s): outcome rejected, its lease was lost (another worker has it)",
                info.id,
                info.task,
                extra=extra,
            )
        elif outcome.kind == "complete":
            self.counts["processed"] += 1
            self._metrics.processed.add(1, labels)
            log.debug("job %s (%s) completed", info.id, info.task, extra=extra)
        elif outcome.kind == "aborted":
            self.counts["aborted"] += 1
            log.info("job %s (%s) aborted", info.id, info.task, extra=extra)
        elif outcome.kind == "retry":
            self.counts["retried"] += 1
            self._metrics.retried.add(1, labels)
            log.warning(
                "job %s (%s) failed (attempt %d), retrying: %s",
                info.id,
                info.task,
                info.attempts,
                outcome.error,
                extra=extra,
            )
        else:
            self.counts["failed"] += 1
            self._metrics.failed.add(1, labels)
            log.error(
                "job %s (%s) failed for good, moved to dead letters: %s",
                info.id,
                info.task,
                outcome.error,
                extra=extra,
            )

    def _failure(self, info: JobInfo, kind: str, exc: Any, now: int) -> tuple[str, int, str, str]:
        if kind == "aborted":
            return "aborted", 0, "aborted", ""
        error = f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(exc))
        failures = info.failures + 1
        if isinstance(exc, UnknownTask) or failures > info.max_retries:
            return "dead", 0, error, tb
        cap = int(self._core.config.max_backoff * 1000)
        return "retry", now + retry_delay(failures, info.backoff_ms, cap, self._rng), error, tb

    def _forget(self, running: _Running) -> None:
        if not running.done:
            running.done = True
            self._running.pop(running.info.id, None)
            self._slot.set()

    # -- background loops -------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        assert self._backend is not None
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            leases = [(r.info.id, r.info.token) for r in self._running.values()]
            if not leases:
                continue
            try:
                reply = await self._backend.heartbeat(
                    leases, self._core.now_ms(), int(self.lease_time * 1000)
                )
            except Exception:
                log.warning("queue %r: heartbeat failed", self.queue.name, exc_info=True)
                continue
            for job_id in reply.lost:
                lost = self._running.get(job_id)
                if lost is not None and not lost.context.lost:
                    lost.context.lost = True
                    log.warning("job %s (%s): lease lost", job_id, lost.info.task)
            for job_id in reply.aborted:
                target = self._running.get(job_id)
                if target is not None and not target.context.aborted:
                    target.context.mark_aborted()
                    if (
                        target.inner is not None
                        and self._core.tasks.get(target.info.task)
                        and self._core.tasks[target.info.task].is_async
                    ):
                        target.inner.cancel()

    async def _stats_loop(self) -> None:
        assert self._backend is not None
        while True:
            try:
                self._metrics.observe(
                    self.queue.name, await self._backend.stats(self._core.now_ms())
                )
            except Exception:
                log.warning("queue %r: could not read stats", self.queue.name, exc_info=True)
            await asyncio.sleep(5.0)

    async def _scheduler_loop(self) -> None:
        while True:
            try:
                delay = await self.run_scheduler_once()
            except Exception:
                log.warning("queue %r: scheduler error", self.queue.name, exc_info=True)
                delay = 1.0
            await asyncio.sleep(delay)

    async def run_scheduler_once(self) -> float:
        """Fire every due schedule once; the seconds until the next fire (at most 5)."""
        if self._backend is None:
            self._backend = self.queue.async_backend()
        now = self._core.now_ms()
        wake = now + int(_SCHEDULER_WAIT * 1000)
        for row in await self._backend.schedules():
            schedule = Schedule.from_json(row.id, row.spec)
            fires, new_last, upcoming = due_fires(schedule, row.last_ms, now)
            wake = min(wake, upcoming)
            if new_last == row.last_ms:
                continue
            jobs = self._core.schedule_jobs(schedule, fires)
            if await self._backend.claim_schedule(row.id, row.last_ms, new_last, jobs, now):
                log.info("schedule %r fired %d job(s)", row.id, len(jobs))
        return max(0.05, (wake - self._core.now_ms()) / 1000)
