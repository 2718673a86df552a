"""Worker behaviour on memory:// and Redis: running, retrying, aborting, shutting down."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from erp_professional.config import QueueConfig
from erp_professional.queue import (
    JobFailed,
    JobStatus,
    Queue,
    Worker,
    current_job,
)

pytestmark = pytest.mark.anyio


async def wait_for(predicate, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_sync_and_async_tasks_run_with_results_and_progress(
    queue_url: str, fast_config: QueueConfig
) -> None:
    q = Queue(queue_url, "w", config=fast_config)
    seen: list[tuple[str, int]] = []

    @q.task
    async def area(width: int, height: int) -> int:
        await current_job().aset_progress({"step": 1})
        seen.append((current_job().task, current_job().attempt))
        return width * height

    @q.task
    def shout(text: str) -> str:
        assert threading.current_thread() is not threading.main_thread()
        current_job().set_progress(50)
        return text.upper()

    a = area.enqueue(width=3, height=4)
    b = shout.enqueue(text="hi")
    async with Worker(q, concurrency=2):
        await wait_for(lambda: a.refresh().status.finished and b.refresh().status.finished)
    assert (a.result, a.progress, a.attempts) == (12, {"step": 1}, 1)
    assert (b.result, b.progress) == ("HI", 50)
    assert seen == [(area.name, 1)]
    with pytest.raises(LookupError):
        current_job()


async def test_failures_retry_with_backoff_then_dead_letter_and_redrive(
    queue_url: str, fast_config: QueueConfig
) -> None:
    q = Queue(queue_url, "w", config=fast_config)
    runs: list[float] = []
    healthy = threading.Event()

    @q.task(retries=2, backoff=0.05)
    def fragile(n: int) -> int:
        runs.append(time.monotonic())
        if not healthy.is_set():
            raise ConnectionError(f"upstream down for {n}")
        return n

    job = fragile.enqueue(n=7)
    async with Worker(q, concurrency=1) as worker:
        await wait_for(lambda: job.refresh().status is JobStatus.FAILED)
        assert len(runs) == 3
        assert runs[1] - runs[0] >= 0.02  # jittered half of the first 0.05 s step
        [dead] = q.dead()
        assert dead.id == job.id
        assert dead.error == "ConnectionError: upstream down for 7"
        assert "Traceback" in (dead.traceback or "") and "fragile" in (dead.traceback or "")
        # The stored state changes before the worker has read the reply that counts it.
        await wait_for(lambda: worker.counts["failed"] == 1)
        assert worker.counts["retried"] == 2
        with pytest.raises(JobFailed, match="upstream down"):
            job.wait(timeout=1)
        healthy.set()
        assert q.retry_dead() == 1
        assert await asyncio.to_thread(job.wait, 5) == 7
    assert q.dead() == []


async def test_purge_deletes_dead_letters(queue_url: str, fast_config: QueueConfig) -> None:
    q = Queue(queue_url, "w", config=fast_config)

    @q.task
    def broken() -> None:
        raise RuntimeError("no")

    jobs = [broken.enqueue() for _ in range(3)]
    async with Worker(q):
        await wait_for(lambda: q.stats().failed == 3)
    assert q.purge_dead([jobs[0].id]) == 1
    assert q.purge_dead() == 2
    assert q.stats().failed == 0


async def test_timeout_fails_the_job(queue_url: str, fast_config: QueueConfig) -> None:
    q = Queue(queue_url, "w", config=fast_config)

    @q.task(timeout=0.1)
    async def slow() -> None:
        await asyncio.sleep(5)

    job = slow.enqueue()
    async with Worker(q):
        await wait_for(lambda: job.refresh().status is JobStatus.FAILED)
    assert "JobTimeout" in (job.error or "")


async def test_abort_stops_running_async_and_sync_jobs(
    queue_url: str, fast_config: QueueConfig
) -> None:
    q = Queue(queue_url, "w", config=fast_config)
    started = threading.Event()

    @q.task
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    @q.task
    def polling() -> None:
        while True:
            current_job().check_aborted()
            time.sleep(0.01)

    a = forever.enqueue()
    b = polling.enqueue()
    async with Worker(q, concurrency=2, lease_time=0.6):
        await wait_for(
            lambda: (
                a.refresh().status is JobStatus.ACTIVE and b.refresh().status is JobStatus.ACTIVE
            )
        )
        assert a.abort() and b.abort()
        await wait_for(
            lambda: (
                a.refresh().status is JobStatus.ABORTED and b.refresh().status is JobStatus.ABORTED
            )
        )
    assert q.stats().failed == 0


async def test_priority_then_fifo_order(queue_url: str, fast_config: QueueConfig) -> None:
    q = Queue(queue_url, "w", config=fast_config)
    order: list[str] = []

    @q.task
    def note(label: str) -> None:
        order.append(label)

    for label, prio in [("low1", -5), ("mid1", 0), ("high", 10), ("mid2", 0), ("low2", -5)]:
        q.enqueue(note.name, {"label": label}, priority=prio)
    async with Worker(q, concurrency=1):
        await wait_for(lambda: len(order) == 5)
    assert order == ["high", "mid1", "mid2", "low1", "low2"]


async def test_delayed_job_waits_in_the_store(queue_url: str, fast_config: QueueConfig) -> None:
    q = Queue(queue_url, "w", config=fast_config)
    ran: list[float] = []

    @q.task
    def tick() -> None:
        ran.append(time.monotonic())

    t0 = time.monotonic()
    job = tick.enqueue()
    later = q.enqueue(tick.name, {}, delay=0.4)
    async with Worker(q):
        await wait_for(lambda: later.refresh().status is JobStatus.COMPLETED)
    assert job.refresh().status is JobStatus.COMPLETED
    assert ran[1] - t0 >= 0.38


async def test_graceful_stop_finishes_or_releases_running_jobs(
    queue_url: str, fast_config: QueueConfig
) -> None:
    q = Queue(queue_url, "w", config=fast_config)

    @q.task
    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    short = nap.enqueue(seconds=0.2)
    worker = Worker(q, concurrency=1, grace_period=2)
    await worker.start()
    await wait_for(lambda: short.refresh().status is JobStatus.ACTIVE)
    await worker.stop()
    assert short.refresh().status is JobStatus.COMPLETED

    long = nap.enqueue(seconds=30)
    worker = Worker(q, concurrency=1, grace_period=0.1)
    await worker.start()
    await wait_for(lambda: long.refresh().status is JobStatus.ACTIVE)
    await worker.stop()
    info = long.refresh().info
    assert info.status is JobStatus.WAITING
    assert info.stalls == 0 and info.failures == 0


async def test_retention_caps_and_result_ttl(queue_url: str) -> None:
    config = QueueConfig(keep_completed=3, result_ttl=1.5, retries=0)
    q = Queue(queue_url, "w", config=config)

    @q.task
    def noop(i: int) -> int:
        return i

    jobs = [noop.enqueue(i=i) for i in range(8)]
    async with Worker(q, concurrency=1):
        await wait_for(lambda: q.stats().waiting == 0 and q.stats().active == 0)
    assert q.get_job(jobs[-1].id).result == 7
    kept = 0
    for job in jobs:
        try:
            job.refresh()
            kept += 1
        except LookupError:
            pass
    assert kept == 3
    await asyncio.sleep(1.6)
    with pytest.raises(LookupError):
        jobs[-1].refresh()


async def test_unknown_task_goes_to_dead_letters(queue_url: str, fast_config: QueueConfig) -> None:
    q = Queue(queue_url, "w", config=fast_config)
    job = q.add_job("not.registered", {"a": 1}, retries=5)
    async with Worker(q):
        await wait_for(lambda: job.refresh().status is JobStatus.FAILED)
    assert "not.registered" in (job.error or "")
    assert job.info.failures == 1


async def test_seed_parity_process_and_add_job(queue_url: str, fast_config: QueueConfig) -> None:
    q = Queue(queue_url, "emails", config=fast_config)
    sent: list[str] = []

    @q.process("email:send")
    async def send(to: str) -> None:
        sent.append(to)

    q.add_job("email:send", {"to": "ops@example.com"})
    async with Worker(q):
        await wait_for(lambda: sent == ["ops@example.com"])


async def test_backlog_health_check(queue_url: str) -> None:
    clock = [1_000.0]
    q = Queue(queue_url, "w", clock=lambda: clock[0]) if queue_url.startswith("memory") else None
    if q is None:
        q = Queue(queue_url, "w")
        check = q.backlog_check(warn_after=0.05, fail_after=0.2)
        assert check().status == "pass"
        q.add_job("x", {})
        await asyncio.sleep(0.1)
        assert check().status == "warn"
        await asyncio.sleep(0.15)
        result = check()
    else:
        check = q.backlog_check(warn_after=60, fail_after=300)
        q.add_job("x", {})
        clock[0] += 61
        assert check().status == "warn"
        clock[0] += 300
        result = check()
    assert result.status == "fail" and not result.ok
    assert result.waiting == 1 and "oldest" in result.message


async def test_stop_is_safe_before_start_and_twice(queue_url: str) -> None:
    q = Queue(queue_url, "w")
    worker = Worker(q)
    await worker.stop()
    await worker.start()
    with pytest.raises(RuntimeError, match="already started"):
        await worker.start()
    await asyncio.gather(worker.stop(), worker.stop())
    with pytest.raises(ValueError, match="heartbeat_interval"):
        Worker(q, lease_time=1, heartbeat_interval=2)


async def test_stop_returns_promptly_whenever_it_comes(queue_url: str) -> None:
    """Stop lands before, during or after the first backend calls of the worker's loops."""
    q = Queue(queue_url, "w")
    for pause in (0, 0.001, 0.003, 0.01, 0.03):
        worker = Worker(q)
        await worker.start()
        await asyncio.sleep(pause)
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(worker.stop(), worker.stop()), 5)
        assert time.monotonic() - started < 2


async def test_a_job_fetched_as_stop_begins_runs_in_the_grace_period(
    queue_url: str, fast_config: QueueConfig
) -> None:
    q = Queue(queue_url, "w", config=fast_config)

    @q.task
    async def nap() -> str:
        await asyncio.sleep(0.05)
        return "done"

    for turns in range(8):
        job = nap.enqueue()
        worker = Worker(q, concurrency=1, grace_period=2)
        await worker.start()
        for _ in range(turns):  # let the worker's tasks run this many steps
            await asyncio.sleep(0)
        await asyncio.wait_for(worker.stop(), 10)
        info = job.refresh().info
        # Either never taken, or taken and finished: never left leased by a stopped worker.
        assert info.status in (JobStatus.WAITING, JobStatus.COMPLETED), info
        assert info.stalls == 0
        if info.status is JobStatus.WAITING:
            assert q.cancel(job.id)


async def test_async_queue_with_worker_and_await_wait(queue_url: str) -> None:
    from erp_professional.queue import AsyncQueue

    q = AsyncQueue(queue_url, "aw", config=QueueConfig(retries=0))

    @q.task
    async def greet(name: str) -> str:
        await current_job().aset_progress("half")
        return f"hello {name}"

    job = await greet.enqueue(name="ada")
    async with Worker(q, concurrency=3):
        assert await job.wait(timeout=5) == "hello ada"
    assert job.progress == "half"
    assert (await q.stats()).done == 1
    failing = await q.enqueue("nobody.home", {})
    async with Worker(q):
        with pytest.raises(JobFailed, match=r"nobody\.home"):
            await failing.wait(timeout=5)


async def test_heartbeats_keep_a_long_job_leased_past_its_lease_time(queue_url: str) -> None:
    q = Queue(queue_url, "w", config=QueueConfig(retries=0))
    runs: list[int] = []

    @q.task
    async def long_job() -> str:
        runs.append(1)
        await asyncio.sleep(1.5)
        return "done"

    job = long_job.enqueue()
    first = Worker(q, concurrency=1, lease_time=0.6)
    second = Worker(q, concurrency=1, lease_time=0.6)
    async with first, second:
        await wait_for(lambda: job.refresh().status is JobStatus.COMPLETED, 10)
        assert second.counts["reclaimed"] == first.counts["reclaimed"] == 0
    assert runs == [1]
    assert job.info.stalls == 0 and job.attempts == 1
