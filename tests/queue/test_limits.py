"""Global rate and concurrency limits: parsing, the fetch-time state machine on memory:// and
Redis (driven by an injected clock), and workers that share one limit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from erp_professional.config import ProfessionalConfig, QueueConfig
from erp_professional.queue import (
    AsyncQueue,
    JobStatus,
    Limits,
    Queue,
    Rate,
    Worker,
    parse_rate_limit,
)
from erp_professional.queue._backend import AsyncBackend, FetchSpec, Retention
from erp_professional.queue._model import JobInfo

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000_000
LEASE = 600_000
RETENTION = Retention(keep_done=1000, keep_failed=1000, result_ttl_ms=0)


# -- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "rates"),
    [
        ("100/second", (Rate(100, 1.0),)),
        ("10/minute", (Rate(10, 60.0),)),
        ("5 per 2 seconds", (Rate(5, 2.0),)),
        (" 3 / Minute ", (Rate(3, 60.0),)),
        ("10/second;1000/hour", (Rate(10, 1.0), Rate(1000, 3600.0))),
    ],
)
def test_rate_strings(text: str, rates: tuple[Rate, ...]) -> None:
    assert parse_rate_limit(text) == rates


@pytest.mark.parametrize(
    "text", ["", "fast", "10", "10/fortnight", "1.5/second", "-1/second", "10/second;", "0/minute"]
)
def test_bad_rate_strings_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit") as caught:
        parse_rate_limit(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2"])
def test_bad_concurrency_limits(value: object) -> None:
    with pytest.raises(ValueError, match="concurrency_limit must be a positive integer"):
        Limits.of(None, value)  # type: ignore[arg-type]


def test_limits_are_checked_where_they_are_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    q = Queue("memory://limits-declared", "d")
    with pytest.raises(ValueError, match="'lots' is not a rate limit"):
        q.task(name="t", rate_limit="lots")
    with pytest.raises(ValueError, match="concurrency_limit"):
        q.process("p", concurrency_limit=0)
    with pytest.raises(ValueError, match="rate_limit"):
        QueueConfig(rate_limit="5 a second")
    with pytest.raises(ValueError, match="concurrency_limit"):
        QueueConfig(concurrency_limit=0)
    with pytest.raises(ValueError, match="rate_limit"):
        Queue("memory://limits-declared", "d", rate_limit="often")
    monkeypatch.setenv("ERP_PRO_QUEUE__RATE_LIMIT", "5 per 2 seconds")
    monkeypatch.setenv("ERP_PRO_QUEUE__CONCURRENCY_LIMIT", "3")
    config = ProfessionalConfig().queue
    assert (config.rate_limit, config.concurrency_limit) == ("5 per 2 seconds", 3)
    assert Queue(config=config).core.limits == Limits(3, (Rate(5, 2.0),))


# -- the state machine, with an injected clock, on both backends --------------------------
@dataclass
class Rig:
    """A queue whose clock the test moves, and the worker-side backend of the same store."""

    queue: Queue
    backend: AsyncBackend
    now: list[int] = field(default_factory=lambda: [T0])
    held: dict[str, JobInfo] = field(default_factory=dict)

    def at(self, ms: int) -> None:
        self.now[0] = T0 + ms

    async def fetch(self, n: int = 10, worker: str = "w", lease: int = LEASE) -> list[str]:
        got = await self.backend.fetch(FetchSpec(worker, n, lease, 3, 1000), self.now[0])
        self.held.update((j.id, j) for j in got.jobs)
        return [j.id for j in got.jobs]

    async def wake(self) -> int | None:
        """When a worker that found nothing to take is told to look again."""
        got = await self.backend.fetch(FetchSpec("w", 1, LEASE, 3, 1000), self.now[0])
        assert got.jobs == []
        return got.next_wake_ms

    async def complete(self, job_id: str) -> None:
        info = self.held.pop(job_id)
        none = FetchSpec("w", 0, LEASE, 3, 1000)
        ok, _ = await self.backend.complete(job_id, info.token, "1", self.now[0], RETENTION, none)
        assert ok

    async def retry_now(self, job_id: str) -> None:
        info = self.held.pop(job_id)
        none = FetchSpec("w", 0, LEASE, 3, 1000)
        ok, _ = await self.backend.fail(
            job_id, info.token, self.now[0], "retry", self.now[0], "E", "", RETENTION, none
        )
        assert ok

    async def release(self, job_id: str) -> None:
        info = self.held.pop(job_id)
        assert await self.backend.release(job_id, info.token, self.now[0])

    def add(self, task: str, *names: str, priority: int = 0) -> None:
        for name in names:
            self.queue.enqueue(task, {}, job_id=name, priority=priority)


@pytest.fixture
async def rig(queue_url: str) -> Rig:
    now = [T0]
    q = Queue(queue_url, "lim", clock=lambda: now[0] / 1000)
    return Rig(q, q.async_backend(), now)


def limited(rig: Rig, name: str, **options: object) -> None:
    def handler() -> None:
        return None

    rig.queue.task(name=name, **options)(handler)  # type: ignore[call-overload]


async def test_a_task_at_its_concurrency_limit_is_parked_and_others_pass(rig: Rig) -> None:
    limited(rig, "c", concurrency_limit=2)
    rig.queue.publish_limits()
    rig.add("c", "c1", "c2", "c3", "c4", "c5")
    rig.add("o", "o1", "o2", "o3")
    assert await rig.fetch() == ["c1", "c2", "o1", "o2", "o3"]
    stats = rig.queue.stats()
    assert (stats.waiting, stats.parked, stats.active) == (3, 3, 5)
    assert rig.queue.get_job("c3").status is JobStatus.WAITING
    assert await rig.fetch() == []

    await rig.complete("c1")
    assert await rig.fetch() == ["c3"]
    assert rig.queue.cancel("c5")  # a parked job can be cancelled
    assert rig.queue.get_job("c5").status is JobStatus.CANCELLED
    assert rig.queue.stats().parked == 1

    # A retried job keeps its place: c2 goes before c4, which has waited (parked) since.
    await rig.retry_now("c2")
    assert await rig.fetch() == ["c2"]
    await rig.release("c3")  # a shutdown hands c3 back: its slot too
    assert await rig.fetch() == ["c3"]
    await rig.complete("c2")
    await rig.complete("c3")
    assert await rig.fetch() == ["c4"]
    await rig.complete("c4")
    stats = rig.queue.stats()
    assert (stats.waiting, stats.parked, stats.active) == (0, 0, 3)


async def test_parked_jobs_keep_their_priority(rig: Rig) -> None:
    limited(rig, "c", concurrency_limit=1)
    rig.queue.publish_limits()
    rig.add("c", "first")
    assert await rig.fetch() == ["first"]
    rig.add("c", "low")
    rig.add("c", "high", priority=9)
    rig.add("o", "other")
    assert await rig.fetch() == ["other"]
    rig.add("c", "urgent", priority=50)
    await rig.complete("first")
    assert await rig.fetch(1) == ["urgent"]
    await rig.complete("urgent")
    assert await rig.fetch() == ["high"]
    await rig.complete("high")
    assert await rig.fetch() == ["low"]


async def test_a_rate_limited_task_waits_for_its_window(rig: Rig) -> None:
    limited(rig, "r", rate_limit="2/minute")
    rig.queue.publish_limits()
    rig.add("r", "r1", "r2", "r3", "r4", "r5")
    rig.add("o", "o1")
    assert await rig.fetch() == ["r1", "r2", "o1"]
    assert await rig.wake() == T0 + 60_000  # the worker knows when to look again
    rig.at(30_000)
    assert await rig.fetch() == []
    rig.at(59_999)
    assert await rig.fetch() == []
    rig.at(60_000)  # r1 and r2 started 60 s ago: out of the window (now - 60 s, now]
    assert await rig.fetch() == ["r3", "r4"]
    rig.at(90_000)
    assert await rig.fetch() == []
    assert await rig.wake() == T0 + 120_000
    rig.at(120_000)
    assert await rig.fetch() == ["r5"]


async def test_several_rates_all_hold(rig: Rig) -> None:
    limited(rig, "r", rate_limit="2/second;3/minute")
    rig.queue.publish_limits()
    rig.add("r", *(f"r{i}" for i in range(6)))
    assert await rig.fetch() == ["r0", "r1"]
    rig.at(1_000)
    assert await rig.fetch() == ["r2"]
    rig.at(2_000)
    assert await rig.fetch() == []
    assert await rig.wake() == T0 + 60_000
    rig.at(60_000)
    assert await rig.fetch() == ["r3", "r4"]


async def test_a_reclaimed_job_gives_its_slot_back(rig: Rig) -> None:
    limited(rig, "c", concurrency_limit=1)
    rig.queue.publish_limits()
    rig.add("c", "c1", "c2")
    assert await rig.fetch(worker="dies", lease=1_000) == ["c1"]
    dead_token = rig.held.pop("c1").token
    rig.at(1_001)
    # The lease expired: another worker reclaims c1, which frees the slot c1 held and
    # takes c1 again (it is first in line); without the freed slot nothing would run.
    assert await rig.fetch() == ["c1"]
    assert rig.held["c1"].stalls == 1
    ok, _ = await rig.backend.complete(
        "c1", dead_token, "late", rig.now[0], RETENTION, FetchSpec("x", 0, 1, 3, 1)
    )
    assert not ok
    await rig.complete("c1")
    assert await rig.fetch() == ["c2"]


async def test_a_job_quarantined_after_stalling_frees_its_slot(queue_url: str) -> None:
    now = [T0]
    q = Queue(queue_url, "lim", clock=lambda: now[0] / 1000)
    q.task(name="c", concurrency_limit=1)(lambda: None)
    q.publish_limits()
    backend = q.async_backend()
    q.enqueue("c", job_id="c1")
    q.enqueue("c", job_id="c2")
    first = await backend.fetch(FetchSpec("dies", 5, 1_000, 0, 1000), now[0])
    assert [j.id for j in first.jobs] == ["c1"]
    now[0] += 1_001
    second = await backend.fetch(FetchSpec("w", 5, LEASE, 0, 1000), now[0])
    assert [j.id for j in second.jobs] == ["c2"]
    assert q.get_job("c1").status is JobStatus.FAILED


async def test_queue_wide_limits(queue_url: str) -> None:
    now = [T0]
    q = Queue(
        queue_url, "lim", clock=lambda: now[0] / 1000, concurrency_limit=2, rate_limit="3/minute"
    )
    q.publish_limits()
    rig = Rig(q, q.async_backend(), now)
    rig.add("a", "a1", "a2")
    rig.add("b", "b1", "b2")
    assert await rig.fetch() == ["a1", "a2"]
    await rig.complete("a1")
    assert await rig.fetch() == ["b1"]
    await rig.complete("a2")
    await rig.complete("b1")
    assert await rig.fetch() == []  # three started within the minute
    assert await rig.wake() == T0 + 60_000
    assert q.stats().waiting == 1 and q.stats().parked == 0
    rig.at(60_000)
    assert await rig.fetch() == ["b2"]


async def test_stored_limits_are_what_workers_enforce(queue_url: str) -> None:
    now = [T0]
    declared = Queue(queue_url, "lim", clock=lambda: now[0] / 1000, concurrency_limit=5)
    declared.task(name="c", concurrency_limit=1, rate_limit="10/second")(lambda: None)
    declared.publish_limits()
    limits = declared.limits()
    assert limits.queue == Limits(5)
    assert limits.tasks == {"c": Limits(1, (Rate(10, 1.0),))}

    # A process that does not register "c" leaves its limit alone ...
    other = Queue(queue_url, "lim", clock=lambda: now[0] / 1000, store=declared.memory)
    other.task(name="unrelated")(lambda: None)
    rig = Rig(other, other.async_backend(), now)
    rig.add("c", "c1", "c2")
    assert await rig.fetch() == ["c1"]
    # ... and enforces it; its own configuration (no queue limit) replaces the queue's.
    other.publish_limits()
    assert other.limits().queue == Limits()
    assert await rig.fetch() == []
    assert other.stats().parked == 1

    # Code that registers "c" without limits removes them, and the parked job runs.
    relaxed = Queue(queue_url, "lim", clock=lambda: now[0] / 1000, store=declared.memory)
    relaxed.task(name="c")(lambda: None)
    relaxed.publish_limits()
    assert relaxed.limits().tasks == {}
    assert await rig.fetch() == ["c2"]
    assert other.stats().parked == 0


async def test_without_limits_nothing_is_stored(queue_url: str) -> None:
    q = Queue(queue_url, "plain")
    q.task(name="t")(lambda: None)
    q.publish_limits()
    q.enqueue("t")
    assert q.limits().tasks == {} and q.limits().queue == Limits()
    if q.memory is None:
        with redis.Redis.from_url(queue_url) as client:
            assert client.exists("erp:q:{plain}:limits", "erp:q:{plain}:parked") == 0
    else:
        assert not q.memory.limits()


async def test_async_queue_has_the_same_limit_api(queue_url: str) -> None:
    q = AsyncQueue(queue_url, "alim", rate_limit="7/minute")

    @q.task(concurrency_limit=3)
    async def work() -> None:
        return None

    await q.publish_limits()
    stored = await q.limits()
    assert stored.queue == Limits(rate=(Rate(7, 60.0),))
    assert stored.tasks == {work.name: Limits(3)}


# -- workers sharing a limit, in real time ------------------------------------------------
def second_url(url: str) -> str:
    """The same store through a client of its own (Redis: another connection pool)."""
    if url.startswith("memory://"):
        return url
    return url + ("&" if "?" in url else "?") + "client_name=second"


def overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


async def test_concurrency_limit_holds_across_workers(queue_url: str) -> None:
    spans: list[tuple[float, float]] = []
    others: list[float] = []

    def build(url: str) -> Queue:
        q = Queue(url, "shared", config=QueueConfig(retries=0))

        @q.task(name="limited", concurrency_limit=3)
        async def limited_job(i: int) -> None:
            start = time.monotonic()
            await asyncio.sleep(0.03)
            spans.append((start, time.monotonic()))

        @q.task(name="other")
        async def other_job(i: int) -> None:
            others.append(time.monotonic())

        return q

    first, second = build(queue_url), build(second_url(queue_url))
    first.enqueue_many([("limited", {"i": i}) for i in range(12)])
    first.enqueue_many([("other", {"i": i}) for i in range(10)])
    # Each worker runs two jobs at a time: the limit of three makes them share.
    async with Worker(first, concurrency=2), Worker(second, concurrency=2):
        deadline = time.monotonic() + 10
        while len(spans) < 12 or len(others) < 10:
            assert time.monotonic() < deadline, (len(spans), len(others))
            await asyncio.sleep(0.01)
    assert overlap(spans) == 3
    # The throttled task did not hold the others up: they all ran before it was through.
    assert max(others) < max(start for start, _ in spans)
    assert first.stats().parked == 0


async def test_rate_limit_holds_across_workers(queue_url: str) -> None:
    def build(url: str) -> Queue:
        q = Queue(url, "paced", config=QueueConfig(retries=0))

        @q.task(name="paced", rate_limit="5/second")
        async def paced(i: int) -> None:
            return None

        return q

    first, second = build(queue_url), build(second_url(queue_url))
    jobs = first.enqueue_many([("paced", {"i": i}) for i in range(12)])
    async with Worker(first, concurrency=4), Worker(second, concurrency=4):
        deadline = time.monotonic() + 10
        while not all(j.refresh().status is JobStatus.COMPLETED for j in jobs):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    starts = sorted(int(j.info.started_at.timestamp() * 1000) for j in jobs if j.info.started_at)
    assert len(starts) == 12
    for t in starts:  # any window (t - 1 s, t] holds at most 5 starts
        assert sum(1 for s in starts if t - 1000 < s <= t) <= 5
    assert starts[-1] - starts[0] >= 2000  # 5 + 5 + 2: three windows


async def test_a_dead_workers_slot_comes_back_when_its_job_is_reclaimed(queue_url: str) -> None:
    q = Queue(queue_url, "reclaim", config=QueueConfig(retries=0, lease_time=0.5))
    ran: list[int] = []

    @q.task(name="c", concurrency_limit=1)
    async def c(i: int) -> None:
        ran.append(i)

    q.publish_limits()
    jobs = q.enqueue_many([("c", {"i": 1}), ("c", {"i": 2})])
    dead = await q.async_backend().fetch(FetchSpec("dead", 5, 500, 3, 100), q.core.now_ms())
    assert [j.id for j in dead.jobs] == [jobs[0].id]  # holds the only slot, then dies
    async with Worker(q, concurrency=4, lease_time=0.5):
        deadline = time.monotonic() + 5
        while not all(j.refresh().status is JobStatus.COMPLETED for j in jobs):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    assert ran == [1, 2]
    assert jobs[0].info.stalls == 1


# -- two worker processes -----------------------------------------------------------------
WORKER = (
    "import argparse, sys\n"
    "from erp_professional.queue._cli import register\n"
    "p = argparse.ArgumentParser(); register(p.add_subparsers(dest='c', required=True))\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUEUE_LIMITS_URL": url}
    env.pop("PYTHONTRACEMALLOC", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, "worker", "limits_app:queue", "--concurrency", "2"],
            cwd=Path(__file__).resolve().parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_limits_hold_across_worker_processes(redis_url: str, tmp_path: Path) -> None:
    q = Queue(redis_url, "limits2p")
    log = tmp_path / "workers.log"
    workers = [start_worker(redis_url, log), start_worker(redis_url, log)]
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("started on queue") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        q.enqueue_many([("limited", {"i": i}) for i in range(16)])
        paced = q.enqueue_many([("paced", {"i": i}) for i in range(8)])
        q.enqueue_many([("free", {"i": i}) for i in range(20)])
        while q.stats().done < 44:
            assert time.monotonic() < deadline, (q.stats(), log.read_text())
            time.sleep(0.05)
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            proc.wait(15)
    with redis.Redis.from_url(redis_url) as client:
        spans = [json.loads(x) for x in client.lrange("limits:spans", 0, -1)]
        free = [json.loads(x) for x in client.lrange("limits:free", 0, -1)]
    assert len(spans) == 16 and len(free) == 20
    # Each process runs two jobs at a time: the limit of three makes them share.
    assert len({pid for _, _, pid in spans}) == 2, "both processes ran the limited task"
    assert overlap([(start, end) for start, end, _ in spans]) == 3
    assert max(t for t, _ in free) < max(start for start, _, _ in spans)
    starts = sorted(int(j.refresh().info.started_at.timestamp() * 1000) for j in paced)
    for t in starts:
        assert sum(1 for s in starts if t - 1000 < s <= t) <= 4
    assert starts[-1] - starts[0] >= 1000
    stats = q.stats()
    assert (stats.done, stats.waiting, stats.active, stats.failed) == (44, 0, 0, 0)
