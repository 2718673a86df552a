"""Queue and AsyncQueue: the same method names, one sync and one async."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

from erp_professional.config import QueueConfig
from erp_professional.connections import async_redis_client, redis_client

from ._backend import AsyncBackend, Backend
from ._core import QueueCore, memory_store
from ._cron import Misfire, Schedule
from ._errors import JobNotFound
from ._health import BacklogHealth, judge_backlog
from ._jobs import AsyncJob, Job, JobRequest
from ._limits import Limits, QueueLimits, Rate
from ._memory import AsyncMemoryBackend, MemoryBackend
from ._model import JobInfo, JobStatus, NewJob, QueueStats
from ._redis import AsyncRedisBackend, RedisBackend
from ._task import TaskOptions, TaskSpec
from ._telemetry import current_traceparent

if TYPE_CHECKING:
    from ._model import Clock
    from ._worker import Worker

__all__ = ["AsyncQueue", "AsyncTask", "Queue", "ScheduleInfo", "Task"]

P = ParamSpec("P")
R = TypeVar("R")


class ScheduleInfo:
    """A stored schedule with its last fire time and next fire time."""

    def __init__(self, schedule: Schedule, last_ms: int) -> None:
        self.schedule = schedule
        self.last_fire = datetime.fromtimestamp(last_ms / 1000, tz=UTC)
        self.next_fire = datetime.fromtimestamp(schedule.next_after(last_ms) / 1000, tz=UTC)

    @property
    def description(self) -> str:
        return self.schedule.describe()


def _local_info(job: NewJob, now_ms: int) -> JobInfo:
    status = JobStatus.DELAYED if job.run_at > now_ms else JobStatus.WAITING
    created = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    return JobInfo(
        id=job.id,
        task=job.task,
        kwargs=dict(job.kwargs),
        status=status,
        priority=job.priority,
        max_retries=job.max_retries,
        backoff_ms=job.backoff_ms,
        timeout_ms=job.timeout_ms,
        created_at=created,
        run_at=datetime.fromtimestamp(job.run_at / 1000, tz=UTC),
        traceparent=job.traceparent,
        dedup=job.dedup,
    )


class _Base:
    def __init__(
        self,
        url: str | None,
        name: str | None,
        config: QueueConfig | None,
        clock: Clock | None,
        seed: int | None,
        store: MemoryBackend | None,
        rate_limit: str | None = None,
        concurrency_limit: int | None = None,
    ) -> None:
        self.core = QueueCore(url, name, config, clock, seed, rate_limit, concurrency_limit)
        self._store: MemoryBackend | None = None
        if self.core.kind == "memory":
            if store is not None:
                self._store = store
            elif self.core.custom_clock:
                self._store = MemoryBackend(self.core.clock)
            else:
                self._store = memory_store(self.core.url, self.core.name)

    @property
    def name(self) -> str:
        return self.core.name

    @property
    def url(self) -> str:
        return self.core.url

    @property
    def config(self) -> QueueConfig:
        return self.core.config

    @property
    def memory(self) -> MemoryBackend | None:
        """The in-process store behind a ``memory://`` queue (None for Redis)."""
        return self._store

    def async_backend(self) -> AsyncBackend:
        """A fresh async backend on the same store, for a worker on the running loop."""
        if self._store is not None:
            return AsyncMemoryBackend(self._store)
        return AsyncRedisBackend(async_redis_client(self.core.url), self.core.name)

    def _register(
        self,
        fn: Callable[..., Any],
        name: str | None,
        retries: int | None,
        backoff: float | None,
        timeout: float | None,
        priority: int,
        unique: bool | float,
        limits: Limits,
    ) -> TaskSpec[..., Any]:
        options = TaskOptions(retries, backoff, timeout, priority, unique, limits)
        return self.core.register(fn, name, options)

    def _requests(
        self, items: Iterable[JobRequest | tuple[str, Mapping[str, Any]]]
    ) -> list[NewJob]:
        now = self.core.now_ms()
        traceparent = current_traceparent()
        jobs = []
        for item in items:
            req = item if isinstance(item, JobRequest) else JobRequest(item[0], dict(item[1]))
            jobs.append(
                self.core.new_job(
                    req.task,
                    req.kwargs,
                    delay=req.delay,
                    run_at=req.run_at,
                    priority=req.priority,
                    job_id=req.job_id,
                    retries=req.retries,
                    timeout=req.timeout,
                    now_ms=now,
                    traceparent=traceparent,
                )
            )
        return jobs

    def worker(self, **options: Any) -> Worker:
        """A :class:`Worker` for this queue (options as for ``Worker``)."""
        from ._worker import Worker

        return Worker(cast("Queue | AsyncQueue", self), **options)


class Task(Generic[P, R]):
    """A function registered on a :class:`Queue`; call it directly or ``enqueue`` it."""

    def __init__(self, queue: Queue, spec: TaskSpec[P, R]) -> None:
        self.queue = queue
        self.spec = spec
        self.name = spec.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.spec.fn(*args, **kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job:
        """Validate the arguments and store a job; raises ``InvalidJobArguments``."""
        return self.queue.enqueue(self.name, self.spec.bind(args, kwargs))


class AsyncTask(Generic[P, R]):
    """A function registered on an :class:`AsyncQueue`; ``await task.enqueue(...)``."""

    def __init__(self, queue: AsyncQueue, spec: TaskSpec[P, R]) -> None:
        self.queue = queue
        self.spec = spec
        self.name = spec.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.spec.fn(*args, **kwargs)

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> AsyncJob:
        """Validate the arguments and store a job; raises ``InvalidJobArguments``."""
        return await self.queue.enqueue(self.name, self.spec.bind(args, kwargs))


class Queue(_Base):
    """A named job queue on ``memory://`` or ``redis://`` (synchronous methods)."""

    def __init__(
        self,
        url: str | None = None,
        name: str | None = None,
        *,
        config: QueueConfig | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        store: MemoryBackend | None = None,
        rate_limit: str | None = None,
        concurrency_limit: int | None = None,
    ) -> None:
        super().__init__(url, name, config, clock, seed, store, rate_limit, concurrency_limit)
        self.backend: Backend = (
            self._store
            if self._store is not None
            else RedisBackend(redis_client(self.core.url), self.core.name)
        )

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        priority: int = 0,
        unique: bool | float = False,
        rate_limit: str | Sequence[Rate] | None = None,
        concurrency_limit: int | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...
    def task(  # type: ignore[misc]
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        priority: int = 0,
        unique: bool | float = False,
        rate_limit: str | Sequence[Rate] | None = None,
        concurrency_limit: int | None = None,
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Register a sync or async function taking JSON-serialisable keyword arguments.

        ``rate_limit`` (``"10/second"``) and ``concurrency_limit`` hold across every worker
        of the queue; a bad value raises ``ValueError`` here."""
        limits = Limits.of(rate_limit, concurrency_limit)

        def register(func: Callable[P, R]) -> Task[P, R]:
            spec = self._register(func, name, retries, backoff, timeout, priority, unique, limits)
            return Task(self, cast(TaskSpec[P, R], spec))

        return register(fn) if fn is not None else register

    def process(self, name: str, **options: Any) -> Callable[[Callable[P, R]], Task[P, R]]:
        """Register the handler of jobs named ``name`` (``queue.process('email:send')(fn)``)."""
        return self.task(name=name, **options)

    def enqueue(
        self,
        task: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        delay: float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        job_id: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        dedup_key: str | None = None,
        dedup_ttl: float | None = None,
    ) -> Job:
        """Store one job; an existing ``job_id`` or held ``dedup_key`` returns that job."""
        job = self.core.new_job(
            task,
            kwargs,
            delay=delay,
            run_at=run_at,
            priority=priority,
            job_id=job_id,
            retries=retries,
            timeout=timeout,
            dedup_key=dedup_key,
            dedup_ttl=dedup_ttl,
        )
        return self._store_jobs([job])[0]

    def add_job(self, name: str, payload: Mapping[str, Any] | None = None, **options: Any) -> Job:
        """Same as :meth:`enqueue` (the name the original service used)."""
        return self.enqueue(name, payload, **options)

    def enqueue_many(
        self, items: Iterable[JobRequest | tuple[str, Mapping[str, Any]]]
    ) -> list[Job]:
        """Store many jobs in one round trip; all are validated before any is stored."""
        return self._store_jobs(self._requests(items))

    def _store_jobs(self, jobs: list[NewJob]) -> list[Job]:
        if not jobs:
            return []
        now = self.core.now_ms()
        out = []
        for job, (job_id, created) in zip(jobs, self.backend.enqueue(jobs, now), strict=True):
            if created:
                out.append(Job(self, job_id, partial(_local_info, job, now)))
            else:
                out.append(Job(self, job_id, self.backend.get(job_id)))
        return out

    def get_job(self, job_id: str) -> Job:
        """A handle on an existing job; ``JobNotFound`` if there is none."""
        info = self.backend.get(job_id)
        if info is None:
            raise JobNotFound(f"job {job_id} does not exist or its result has expired")
        return Job(self, job_id, info)

    def cancel(self, job_id: str) -> bool:
        return self.backend.cancel(job_id, self.core.now_ms(), self.config.keep_completed)

    def abort(self, job_id: str) -> bool:
        return self.backend.abort(job_id, self.core.now_ms(), self.config.keep_completed)

    def stats(self) -> QueueStats:
        return self.backend.stats(self.core.now_ms())

    def dead(self, offset: int = 0, limit: int = 100) -> list[JobInfo]:
        """Dead letters, newest first, with their error and traceback."""
        return self.backend.dead(offset, limit)

    def retry_dead(self, ids: Iterable[str] | None = None) -> int:
        """Move dead letters (all, or these ids) back to waiting with fresh retry counts."""
        return self.backend.retry_dead(None if ids is None else list(ids), self.core.now_ms())

    def purge_dead(self, ids: Iterable[str] | None = None) -> int:
        """Delete dead letters (all, or these ids)."""
        return self.backend.purge_dead(None if ids is None else list(ids))

    def schedule(
        self,
        cron: str,
        task: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        tz: str = "UTC",
        id: str | None = None,
        misfire: Misfire | str = Misfire.RUN_ONCE,
        grace: float = 60.0,
        priority: int = 0,
    ) -> Schedule:
        """Store (or replace) a cron schedule; workers fire it, each time exactly once."""
        sched = self.core.make_schedule(cron, task, kwargs, tz, id, misfire, grace, priority)
        self.backend.add_schedule(sched.id, sched.to_json(), self.core.now_ms())
        return sched

    def unschedule(self, sched_id: str) -> bool:
        return self.backend.remove_schedule(sched_id)

    def schedules(self) -> list[ScheduleInfo]:
        rows = self.backend.schedules()
        return [ScheduleInfo(Schedule.from_json(r.id, r.spec), r.last_ms) for r in rows]

    def limits(self) -> QueueLimits:
        """The limits stored in the backend: what every worker enforces."""
        return QueueLimits.from_stored(self.backend.limits())

    def publish_limits(self) -> None:
        """Store this queue's limits and those of its registered tasks (every worker does
        this when it starts); a registered task without limits has its stored ones removed."""
        self.backend.set_limits(self.core.limit_definitions(), self.core.now_ms())

    def backlog_check(
        self, warn_after: float | None = None, fail_after: float | None = None
    ) -> Callable[[], BacklogHealth]:
        """A health check: the age of the oldest waiting job against two thresholds."""
        warn = warn_after if warn_after is not None else self.config.backlog_warn_after
        fail = fail_after if fail_after is not None else self.config.backlog_fail_after

        def check() -> BacklogHealth:
            return judge_backlog(self.name, self.stats(), warn, fail)

        check.__name__ = f"queue_backlog_{self.name}"
        return check


class AsyncQueue(_Base):
    """A named job queue on ``memory://`` or ``redis://`` (asynchronous methods)."""

    def __init__(
        self,
        url: str | None = None,
        name: str | None = None,
        *,
        config: QueueConfig | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        store: MemoryBackend | None = None,
        rate_limit: str | None = None,
        concurrency_limit: int | None = None,
    ) -> None:
        super().__init__(url, name, config, clock, seed, store, rate_limit, concurrency_limit)
        self._backends: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncBackend] = (
            weakref.WeakKeyDictionary()
        )

    def backend(self) -> AsyncBackend:
        """The async backend for the running event loop."""
        loop = asyncio.get_running_loop()
        backend = self._backends.get(loop)
        if backend is None:
            backend = self._backends[loop] = self.async_backend()
        return backend

    @overload
    def task(self, fn: Callable[P, R], /) -> AsyncTask[P, R]: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        priority: int = 0,
        unique: bool | float = False,
        rate_limit: str | Sequence[Rate] | None = None,
        concurrency_limit: int | None = None,
    ) -> Callable[[Callable[P, R]], AsyncTask[P, R]]: ...
    def task(  # type: ignore[misc]
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        priority: int = 0,
        unique: bool | float = False,
        rate_limit: str | Sequence[Rate] | None = None,
        concurrency_limit: int | None = None,
    ) -> AsyncTask[P, R] | Callable[[Callable[P, R]], AsyncTask[P, R]]:
        """Register a sync or async function taking JSON-serialisable keyword arguments.

        ``rate_limit`` (``"10/second"``) and ``concurrency_limit`` hold across every worker
        of the queue; a bad value raises ``ValueError`` here."""
        limits = Limits.of(rate_limit, concurrency_limit)

        def register(func: Callable[P, R]) -> AsyncTask[P, R]:
            spec = self._register(func, name, retries, backoff, timeout, priority, unique, limits)
            return AsyncTask(self, cast(TaskSpec[P, R], spec))

        return register(fn) if fn is not None else register

    def process(self, name: str, **options: Any) -> Callable[[Callable[P, R]], AsyncTask[P, R]]:
        """Register the handler of jobs named ``name`` (``queue.process('email:send')(fn)``)."""
        return self.task(name=name, **options)

    async def enqueue(
        self,
        task: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        delay: float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        job_id: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the job's own time limit
        dedup_key: str | None = None,
        dedup_ttl: float | None = None,
    ) -> AsyncJob:
        """Store one job; an existing ``job_id`` or held ``dedup_key`` returns that job."""
        job = self.core.new_job(
            task,
            kwargs,
            delay=delay,
            run_at=run_at,
            priority=priority,
            job_id=job_id,
            retries=retries,
            timeout=timeout,
            dedup_key=dedup_key,
            dedup_ttl=dedup_ttl,
        )
        return (await self._store_jobs([job]))[0]

    async def add_job(
        self, name: str, payload: Mapping[str, Any] | None = None, **options: Any
    ) -> AsyncJob:
        """Same as :meth:`enqueue` (the name the original service used)."""
        return await self.enqueue(name, payload, **options)

    async def enqueue_many(
        self, items: Iterable[JobRequest | tuple[str, Mapping[str, Any]]]
    ) -> list[AsyncJob]:
        """Store many jobs in one round trip; all are validated before any is stored."""
        return await self._store_jobs(self._requests(items))

    async def _store_jobs(self, jobs: list[NewJob]) -> list[AsyncJob]:
        if not jobs:
            return []
        backend = self.backend()
        now = self.core.now_ms()
        out = []
        for job, (job_id, created) in zip(jobs, await backend.enqueue(jobs, now), strict=True):
            if created:
                out.append(AsyncJob(self, job_id, partial(_local_info, job, now)))
            else:
                out.append(AsyncJob(self, job_id, await backend.get(job_id)))
        return out

    async def get_job(self, job_id: str) -> AsyncJob:
        """A handle on an existing job; ``JobNotFound`` if there is none."""
        info = await self.backend().get(job_id)
        if info is None:
            raise JobNotFound(f"job {job_id} does not exist or its result has expired")
        return AsyncJob(self, job_id, info)

    async def cancel(self, job_id: str) -> bool:
        return await self.backend().cancel(job_id, self.core.now_ms(), self.config.keep_completed)

    async def abort(self, job_id: str) -> bool:
        return await self.backend().abort(job_id, self.core.now_ms(), self.config.keep_completed)

    async def stats(self) -> QueueStats:
        return await self.backend().stats(self.core.now_ms())

    async def dead(self, offset: int = 0, limit: int = 100) -> list[JobInfo]:
        """Dead letters, newest first, with their error and traceback."""
        return await self.backend().dead(offset, limit)

    async def retry_dead(self, ids: Iterable[str] | None = None) -> int:
        """Move dead letters (all, or these ids) back to waiting with fresh retry counts."""
        chosen = None if ids is None else list(ids)
        return await self.backend().retry_dead(chosen, self.core.now_ms())

    async def purge_dead(self, ids: Iterable[str] | None = None) -> int:
        """Delete dead letters (all, or these ids)."""
        return await self.backend().purge_dead(None if ids is None else list(ids))

    async def schedule(
        self,
        cron: str,
        task: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        tz: str = "UTC",
        id: str | None = None,
        misfire: Misfire | str = Misfire.RUN_ONCE,
        grace: float = 60.0,
        priority: int = 0,
    ) -> Schedule:
        """Store (or replace) a cron schedule; workers fire it, each time exactly once."""
        sched = self.core.make_schedule(cron, task, kwargs, tz, id, misfire, grace, priority)
        await self.backend().add_schedule(sched.id, sched.to_json(), self.core.now_ms())
        return sched

    async def unschedule(self, sched_id: str) -> bool:
        return await self.backend().remove_schedule(sched_id)

    async def schedules(self) -> list[ScheduleInfo]:
        rows = await self.backend().schedules()
        return [ScheduleInfo(Schedule.from_json(r.id, r.spec), r.last_ms) for r in rows]

    async def limits(self) -> QueueLimits:
        """The limits stored in the backend: what every worker enforces."""
        return QueueLimits.from_stored(await self.backend().limits())

    async def publish_limits(self) -> None:
        """Store this queue's limits and those of its registered tasks (every worker does
        this when it starts); a registered task without limits has its stored ones removed."""
        await self.backend().set_limits(self.core.limit_definitions(), self.core.now_ms())

    def backlog_check(
        self, warn_after: float | None = None, fail_after: float | None = None
    ) -> Callable[[], Awaitable[BacklogHealth]]:
        """An async health check: the age of the oldest waiting job against two thresholds."""
        warn = warn_after if warn_after is not None else self.config.backlog_warn_after
        fail = fail_after if fail_after is not None else self.config.backlog_fail_after

        async def check() -> BacklogHealth:
            return judge_backlog(self.name, await self.stats(), warn, fail)

        check.__name__ = f"queue_backlog_{self.name}"
        return check
