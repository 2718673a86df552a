"""Resilience benchmarks: ours against circuitbreaker, pybreaker, backoff and tenacity.

    .venv/bin/python benchmarks/resilience.py [--quick]

Figures (medians over repeats, each repeat timing ours, the peer and the bare call in the
same round; overheads are the paired median of ``wrapped - bare``):

* breaker closed-path overhead on a sync no-op, vs circuitbreaker and vs pybreaker;
* retry happy path (no failure) overhead, vs backoff.on_exception and vs tenacity;
* a five-policy async pipeline happy path (fallback, retry, breaker, timeout, bulkhead)
  vs the same stack assembled from tenacity, circuitbreaker and asyncio primitives;
* contention: 8 threads x 5 calls of 10 ms through one breaker, as a ratio to the same
  calls unwrapped, vs pybreaker.

Peers (not dependencies of the package): circuitbreaker, pybreaker, backoff, tenacity.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds scripts named like standard modules (queue.py): search it last so that
# the standard library wins, while _common is still found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

import backoff  # noqa: E402
import circuitbreaker  # noqa: E402
import pybreaker  # noqa: E402
import tenacity  # noqa: E402
from _common import emit, figure, median, paired_median_delta  # noqa: E402

from erp_professional.resilience import (  # noqa: E402
    CircuitBreaker,
    Policy,
    bulkhead,
    circuit_breaker,
    fallback,
    retry,
    timeout,
)


def noop() -> None:
    return None


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls (one timed loop)."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def sync_overheads(
    wrapped: dict[str, Callable[[], object]], number: int, repeats: int
) -> dict[str, float]:
    """Per-call overhead in ns of each wrapped no-op, paired with the bare call per round."""
    rounds: dict[str, list[float]] = {name: [] for name in [*wrapped, "bare"]}
    for fn in wrapped.values():  # warm up
        per_call(fn, number // 10)
    for _ in range(repeats):
        rounds["bare"].append(per_call(noop, number))
        for name, fn in wrapped.items():
            rounds[name].append(per_call(fn, number))
    return {name: paired_median_delta(rounds[name], rounds["bare"]) * 1e9 for name in wrapped}


def breaker_figures(number: int, repeats: int) -> None:
    ours = circuit_breaker(name="bench-closed")(noop)
    cb = circuitbreaker.circuit(noop)
    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)(noop)
    result = sync_overheads({"ours": ours, "cb": cb, "pb": pb}, number, repeats)
    name = "breaker closed-path overhead (sync no-op)"
    emit(figure(name, result["ours"], result["cb"], "circuitbreaker", "ns"))
    emit(figure(name, result["ours"], result["pb"], "pybreaker", "ns"))


def retry_figures(number: int, repeats: int) -> None:
    ours = retry(attempts=3)(noop)
    bo = backoff.on_exception(backoff.expo, Exception, max_tries=3)(noop)
    te = tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_exponential())(noop)
    result = sync_overheads({"ours": ours, "backoff": bo, "tenacity": te}, number, repeats)
    name = "retry happy-path overhead (sync no-op)"
    emit(figure(name, result["ours"], result["backoff"], "backoff", "ns"))
    emit(figure(name, result["ours"], result["tenacity"], "tenacity", "ns"))


async def anoop() -> int:
    return 1


def peer_pipeline() -> Callable[[], Awaitable[int]]:
    """fallback > retry > breaker > timeout > bulkhead from the usual libraries."""
    semaphore = asyncio.Semaphore(10)
    breaker = circuitbreaker.CircuitBreaker(name="bench-peer-pipeline")

    @breaker
    async def guarded() -> int:
        async with asyncio.timeout(1.0):
            if semaphore.locked():
                raise RuntimeError("bulkhead full")
            async with semaphore:
                return await anoop()

    retrying = tenacity.AsyncRetrying(stop=tenacity.stop_after_attempt(3), reraise=True)

    async def pipeline() -> int:
        try:
            return await retrying(guarded)
        except Exception:
            return 0

    return pipeline


async def async_per_call(fn: Callable[[], Awaitable[object]], number: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(number):
        await fn()
    return (time.perf_counter() - start) / number


async def pipeline_figures(number: int, repeats: int) -> None:
    ours = Policy(
        fallback(0),
        retry(attempts=3),
        circuit_breaker(name="bench-pipeline"),
        timeout(1.0),
        bulkhead(max_concurrent=10),
    )(anoop)
    peer = peer_pipeline()
    await async_per_call(ours, number // 10)
    await async_per_call(peer, number // 10)
    ours_times, peer_times = [], []
    for _ in range(repeats):
        ours_times.append(await async_per_call(ours, number))
        peer_times.append(await async_per_call(peer, number))
    emit(
        figure(
            "five-policy async pipeline, happy path, per call",
            median(ours_times) * 1e6,
            median(peer_times) * 1e6,
            "tenacity+circuitbreaker+asyncio",
            "us",
        )
    )


def contention_ratio(wrap: Callable[[Callable[[], None]], Callable[[], None]] | None) -> float:
    """Elapsed time of 8 threads x 5 calls of 10 ms, divided by the same calls unwrapped."""

    def io_call() -> None:
        time.sleep(0.01)

    def run(fn: Callable[[], None]) -> float:
        barrier = threading.Barrier(8)

        def worker() -> None:
            barrier.wait()
            for _ in range(5):
                fn()

        threads = [threading.Thread(target=worker) for _ in range(8)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start

    bare = run(io_call)
    wrapped = run(wrap(io_call) if wrap else io_call)
    return wrapped / bare


def contention_figures(repeats: int) -> None:
    ours_breaker = CircuitBreaker("bench-contention", register=False)
    peer_breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    ours = median(contention_ratio(ours_breaker) for _ in range(repeats))
    peer = median(contention_ratio(peer_breaker) for _ in range(repeats))
    emit(
        figure(
            "contention 8 threads x 5 calls of 10 ms (elapsed / unwrapped elapsed)",
            ours,
            peer,
            "pybreaker",
            "x",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats")
    args = parser.parse_args()
    number, repeats = (20_000, 3) if args.quick else (200_000, 7)
    breaker_figures(number, repeats)
    retry_figures(number // 4, repeats)
    asyncio.run(pipeline_figures(number // 10, repeats))
    contention_figures(3 if args.quick else 5)


if __name__ == "__main__":
    main()
