"""Job queue benchmark: ours against arq, saq, rq and dramatiq on the same local Redis.

    .venv/bin/python benchmarks/queue.py [--quick] [--url redis://127.0.0.1:6379/14]

Figures (medians of several runs; the database in --url is flushed between runs):
  enqueue_one_sync   jobs/s, one call per job (ours Queue vs rq, dramatiq)
  enqueue_one_async  jobs/s, one await per job (ours AsyncQueue vs arq, saq)
  enqueue_bulk       jobs/s, batches of 1,000 (ours enqueue_many vs rq enqueue_many)
  drain              jobs/s, one worker process running no-op jobs (all four peers)
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's ``queue`` module: keep its folder off
# the import path so ``import queue`` (threads, redis) finds the real one.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import asyncio
import statistics
import subprocess
import threading
import time
from collections.abc import Callable

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/14"
CONCURRENCY = 20


def flush(url: str) -> None:
    with redis.Redis.from_url(url) as client:
        client.flushdb()


# -- enqueue, one by one ------------------------------------------------------------------
def ours_sync_enqueue(url: str, n: int) -> float:
    from erp_professional.queue import Queue

    q = Queue(url, "bench")
    q.enqueue("noop", {"i": -1})
    start = time.perf_counter()
    for i in range(n):
        q.enqueue("noop", {"i": i})
    return n / (time.perf_counter() - start)


def rq_enqueue(url: str, n: int) -> float:
    from rq import Queue as RQ

    q = RQ("bench", connection=redis.Redis.from_url(url))
    q.enqueue("os.getpid")
    start = time.perf_counter()
    for _ in range(n):
        q.enqueue("os.getpid")
    return n / (time.perf_counter() - start)


def dramatiq_setup(url: str) -> tuple[object, object]:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    done = {"n": 0, "lock": threading.Lock(), "event": threading.Event(), "target": 0}

    @dramatiq.actor(broker=broker, queue_name="bench", max_retries=0)
    def noop(i: int) -> None:
        with done["lock"]:
            done["n"] += 1
            if done["n"] >= done["target"]:
                done["event"].set()

    return broker, (noop, done)


def dramatiq_enqueue(url: str, n: int) -> float:
    _, (noop, _) = dramatiq_setup(url)
    noop.send(-1)
    start = time.perf_counter()
    for i in range(n):
        noop.send(i)
    return n / (time.perf_counter() - start)


async def ours_async_enqueue(url: str, n: int) -> float:
    from erp_professional.queue import AsyncQueue

    q = AsyncQueue(url, "bench")
    await q.enqueue("noop", {"i": -1})
    start = time.perf_counter()
    for i in range(n):
        await q.enqueue("noop", {"i": i})
    return n / (time.perf_counter() - start)


async def arq_enqueue(url: str, n: int) -> float:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(url))
    await pool.enqueue_job("noop", -1)
    start = time.perf_counter()
    for i in range(n):
        await pool.enqueue_job("noop", i)
    rate = n / (time.perf_counter() - start)
    await pool.aclose()
    return rate


async def saq_enqueue(url: str, n: int) -> float:
    from saq import Queue as SQ

    q = SQ.from_url(url, name="bench")
    await q.connect()
    await q.enqueue("noop", i=-1)
    start = time.perf_counter()
    for i in range(n):
        await q.enqueue("noop", i=i)
    rate = n / (time.perf_counter() - start)
    await q.disconnect()
    return rate


# -- bulk enqueue -------------------------------------------------------------------------
def ours_bulk(url: str, n: int) -> float:
    from erp_professional.queue import Queue

    q = Queue(url, "bench")
    start = time.perf_counter()
    for k in range(0, n, 1000):
        q.enqueue_many([("noop", {"i": i}) for i in range(k, min(n, k + 1000))])
    return n / (time.perf_counter() - start)


def rq_bulk(url: str, n: int) -> float:
    from rq import Queue as RQ

    q = RQ("bench", connection=redis.Redis.from_url(url))
    start = time.perf_counter()
    for k in range(0, n, 1000):
        q.enqueue_many([RQ.prepare_data("os.getpid") for _ in range(k, min(n, k + 1000))])
    return n / (time.perf_counter() - start)


# -- one worker process draining no-op jobs (runs in a child process) ----------------------
def drain_ours(url: str, n: int) -> float:
    from erp_professional.queue import Queue, Worker

    q = Queue(url, "bench")

    @q.task(name="noop")
    async def noop(i: int) -> None:
        return None

    for k in range(0, n, 1000):
        q.enqueue_many([("noop", {"i": i}) for i in range(k, min(n, k + 1000))])

    async def run() -> float:
        worker = Worker(q, concurrency=CONCURRENCY, scheduler=False)
        start = time.perf_counter()
        await worker.start()
        while worker.counts["processed"] < n:  # noqa: ASYNC110 - polls the counter
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - start
        await worker.stop()
        return n / elapsed

    return asyncio.run(run())


async def arq_noop(ctx: dict[str, object], i: int) -> None:
    return None


_SAQ_COUNT = {"n": 0, "target": 0}
_SAQ_DONE: list[asyncio.Event] = []


async def saq_noop(ctx: object, *, i: int) -> None:
    _SAQ_COUNT["n"] += 1
    if _SAQ_COUNT["n"] >= _SAQ_COUNT["target"]:
        _SAQ_DONE[0].set()


def drain_arq(url: str, n: int) -> float:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker as ArqWorker
    from arq.worker import func

    async def run() -> float:
        settings = RedisSettings.from_dsn(url)
        pool = await create_pool(settings)
        for i in range(n):
            await pool.enqueue_job("noop", i)
        worker = ArqWorker(
            [func(arq_noop, name="noop")],
            redis_pool=pool,
            burst=True,
            max_jobs=CONCURRENCY,
            handle_signals=False,
            log_results=False,
            poll_delay=0.01,
        )
        start = time.perf_counter()
        await worker.main()
        elapsed = time.perf_counter() - start
        await worker.close()
        return n / elapsed

    return asyncio.run(run())


def drain_saq(url: str, n: int) -> float:
    from saq import Queue as SQ
    from saq import Worker as SaqWorker

    async def run() -> float:
        q = SQ.from_url(url, name="bench")
        await q.connect()
        finished = asyncio.Event()
        _SAQ_DONE.append(finished)
        _SAQ_COUNT["target"] = n
        for i in range(n):
            await q.enqueue("noop", i=i)
        worker = SaqWorker(q, functions=[("noop", saq_noop)], concurrency=CONCURRENCY)
        start = time.perf_counter()
        task = asyncio.create_task(worker.start())
        await finished.wait()
        elapsed = time.perf_counter() - start
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await q.disconnect()
        return n / elapsed

    return asyncio.run(run())


def drain_rq(url: str, n: int) -> float:
    from rq import Queue as RQ
    from rq import SimpleWorker

    conn = redis.Redis.from_url(url)
    q = RQ("bench", connection=conn)
    for k in range(0, n, 1000):
        q.enqueue_many(
            [RQ.prepare_data("os.getpid", result_ttl=60) for _ in range(k, min(n, k + 1000))]
        )
    worker = SimpleWorker([q], connection=conn)
    start = time.perf_counter()
    worker.work(burst=True, logging_level="ERROR")
    return n / (time.perf_counter() - start)


def drain_dramatiq(url: str, n: int) -> float:
    from dramatiq import Worker as DWorker

    broker, (noop, done) = dramatiq_setup(url)
    done["target"] = n
    for i in range(n):
        noop.send(i)
    worker = DWorker(broker, worker_threads=8)
    start = time.perf_counter()
    worker.start()
    if not done["event"].wait(90):
        raise SystemExit(f"dramatiq ran {done['n']} of {n} jobs in 90 s")
    elapsed = time.perf_counter() - start
    worker.stop()
    broker.close()
    return n / elapsed


DRAINS: dict[str, Callable[[str, int], float]] = {
    "ours": drain_ours,
    "arq": drain_arq,
    "saq": drain_saq,
    "rq": drain_rq,
    "dramatiq": drain_dramatiq,
}


def drain_in_child(system: str, url: str, n: int) -> float:
    """Jobs/s of one fresh worker process; 0 (and a note) if it did not finish in time."""
    flush(url)
    try:
        out = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                system,
                "--url",
                url,
                "-n",
                str(n),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
        print(
            f"# {system}: a drain run did not finish ({type(exc).__name__}); run left out",
            flush=True,
        )
        return 0.0
    return float(out.stdout.strip().splitlines()[-1])


# -- driver -------------------------------------------------------------------------------
def interleaved(runs: int, url: str, systems: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median of each system, its runs interleaved with the others' so load drift is shared."""
    values: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(runs):
        for name, measure in systems.items():
            flush(url)
            value = measure()
            if value:
                values[name].append(value)
    return {n: statistics.median(v) if v else float("nan") for n, v in values.items()}


def report(figure: str, ours: float, peers: dict[str, float], unit: str = "jobs/s") -> None:
    for name, value in peers.items():
        print(
            f"{figure}: ours={ours:,.0f}{unit} peer({name})={value:,.0f}{unit} "
            f"ratio={ours / value:.2f} (ours/peer)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="a Redis database to flush and use")
    parser.add_argument("--quick", action="store_true", help="fewer jobs and runs")
    parser.add_argument("--child", choices=sorted(DRAINS), help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(DRAINS[args.child](args.url, args.n))
        return
    runs = 3 if args.quick else 5
    n_one = 1000 if args.quick else 2000
    n_bulk = 5000 if args.quick else 20000
    n_drain = 2000 if args.quick else 5000
    url = args.url
    print(
        f"# {runs} runs each, medians; Redis {url}; worker concurrency {CONCURRENCY} "
        f"(dramatiq 8 threads, rq SimpleWorker)",
        flush=True,
    )

    sync = interleaved(
        runs,
        url,
        {
            "ours": lambda: ours_sync_enqueue(url, n_one),
            "rq": lambda: rq_enqueue(url, n_one),
            "dramatiq": lambda: dramatiq_enqueue(url, n_one),
        },
    )
    report("enqueue_one_sync", sync.pop("ours"), sync)
    asyncs = interleaved(
        runs,
        url,
        {
            "ours": lambda: asyncio.run(ours_async_enqueue(url, n_one)),
            "arq": lambda: asyncio.run(arq_enqueue(url, n_one)),
            "saq": lambda: asyncio.run(saq_enqueue(url, n_one)),
        },
    )
    report("enqueue_one_async", asyncs.pop("ours"), asyncs)
    bulk = interleaved(
        runs, url, {"ours": lambda: ours_bulk(url, n_bulk), "rq": lambda: rq_bulk(url, n_bulk)}
    )
    report("enqueue_bulk", bulk.pop("ours"), bulk)
    drains = interleaved(
        runs,
        url,
        {system: (lambda system=system: drain_in_child(system, url, n_drain)) for system in DRAINS},
    )
    report("drain", drains.pop("ours"), drains)
    flush(url)


if __name__ == "__main__":
    main()
