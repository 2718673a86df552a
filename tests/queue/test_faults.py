"""Fault tests on a real Redis: a worker killed with SIGKILL, connections dropped."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from erp_professional.queue import JobStatus, Queue, Worker

HERE = Path(__file__).resolve().parent
WORKER = (
    "import argparse, sys\n"
    "from erp_professional.queue._cli import register\n"
    "p = argparse.ArgumentParser(); register(p.add_subparsers(dest='c', required=True))\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)
LEASE = 2.0


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUEUE_FAULT_URL": url}
    env.pop("PYTHONTRACEMALLOC", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                "worker",
                "fault_app:queue",
                "--concurrency",
                "20",
                "--log-level",
                "warning",
            ],
            cwd=HERE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until(predicate, limit: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > limit:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.mark.slow
def test_sigkilled_worker_loses_nothing_and_recovers_within_the_lease(
    redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "workers.log"
    client = redis.Redis.from_url(redis_url)
    q = Queue(redis_url, "faults")
    q.enqueue_many([("sleepy", {"i": i}) for i in range(200)])
    first = start_worker(redis_url, log)
    second = None
    try:
        wait_until(lambda: q.stats().done >= 40, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        in_flight = {m.decode() for m in client.zrange("erp:q:{faults}:active", 0, -1)}
        assert in_flight, "the kill should interrupt running jobs"
        in_flight_args = {int(q.get_job(j).info.kwargs["i"]) for j in in_flight}
        second = start_worker(redis_url, log)
        wait_until(
            lambda: all(q.get_job(j).status is JobStatus.COMPLETED for j in in_flight), LEASE + 10
        )
        recovery = time.monotonic() - killed_at
        wait_until(lambda: q.stats().done == 200, 30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
        print(log.read_text())
        client.close()
    stats = q.stats()
    assert (stats.done, stats.failed, stats.waiting, stats.active) == (200, 0, 0, 0)
    with redis.Redis.from_url(redis_url) as reader:
        runs = collections.Counter(int(x) for x in reader.lrange("fault:runs", 0, -1))
    assert set(runs) == set(range(200))
    duplicated = {i for i, n in runs.items() if n > 1}
    assert duplicated <= in_flight_args
    assert all(n <= 2 for n in runs.values())
    # Leases expire at most LEASE after the kill; allow a second process to start up.
    assert recovery < LEASE + 4.0, recovery
    for job_id in in_flight:
        assert q.get_job(job_id).info.stalls == 1


def _drop_connections(url: str, db: int) -> int:
    admin = redis.Redis.from_url(url)
    me = admin.client_id()
    killed = 0
    for client in admin.client_list():
        if int(client["db"]) == db and int(client["id"]) != me:
            killed += admin.client_kill_filter(_id=client["id"])
    admin.close()
    return killed


@pytest.mark.anyio
async def test_dropped_connections_are_reopened_and_nothing_is_lost(redis_url: str) -> None:
    q = Queue(redis_url, "drops")
    done: list[int] = []

    @q.task(name="quick", retries=0)
    async def quick(i: int) -> int:
        await asyncio.sleep(0.005)
        done.append(i)
        return i

    jobs = q.enqueue_many([("quick", {"i": i}) for i in range(300)])
    db = int(redis_url.rsplit("/", 1)[1])
    async with Worker(q, concurrency=10, lease_time=2.0) as worker:
        kills = 0
        for _ in range(4):
            await asyncio.sleep(0.15)
            kills += await asyncio.to_thread(_drop_connections, redis_url, db)
        deadline = time.monotonic() + 20
        while await asyncio.to_thread(lambda: q.stats().done) < 300:
            assert time.monotonic() < deadline, q.stats()
            await asyncio.sleep(0.05)
        assert kills > 0
        assert worker.counts["failed"] == 0
    statuses = collections.Counter(j.refresh().status for j in jobs)
    assert statuses == {JobStatus.COMPLETED: 300}
    assert set(done) == set(range(300))
