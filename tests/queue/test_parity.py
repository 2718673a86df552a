"""Differential test: the Redis Lua scripts and the memory backend make the same decisions
for the same operations at the same clock readings."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional.queue._backend import FetchSpec, Outcome, Retention
from erp_professional.queue._limits import Limits, Rate
from erp_professional.queue._memory import AsyncMemoryBackend, MemoryBackend
from erp_professional.queue._model import NewJob
from erp_professional.queue._redis import AsyncRedisBackend

RETENTION = Retention(keep_done=3, keep_failed=3, result_ttl_ms=0)
# Task "c" may run one job at a time, "r" start two per 100 ms; "t" has no limit.
LIMITS = {
    "tasks": {"c": Limits(1).to_json(), "r": Limits(rate=(Rate(2, 0.1),)).to_json()},
    "queue": {"": Limits(3, (Rate(4, 0.2),)).to_json()},
    "off": {"c": "", "r": "", "": ""},
}

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("enqueue"),
            st.sampled_from([0, 0, 40, 150]),
            st.integers(-1, 1),
            st.sampled_from(["", "k1", "k2"]),
            st.sampled_from(["t", "c", "r"]),
        ),
        st.tuples(st.just("advance"), st.sampled_from([10, 60, 101])),
        st.tuples(st.just("advance"), st.just(101)),
        st.tuples(st.just("fetch"), st.integers(1, 3)),
        st.tuples(st.just("fetch"), st.integers(1, 3)),
        st.tuples(st.just("enqueue"), st.just(0), st.just(0), st.just(""), st.just("c")),
        st.tuples(st.just("limits"), st.sampled_from(sorted(LIMITS))),
        st.tuples(st.just("report"), st.integers(1, 3)),
        st.tuples(st.just("complete"), st.integers(0, 5), st.booleans()),
        st.tuples(
            st.just("fail"), st.integers(0, 5), st.sampled_from(["retry", "dead", "aborted"])
        ),
        st.tuples(st.just("release"), st.integers(0, 5)),
        st.tuples(st.just("heartbeat"), st.integers(0, 5)),
        st.tuples(st.just("cancel"), st.integers(0, 9), st.booleans()),
        st.tuples(
            st.just("retry_dead"),
        ),
        st.tuples(
            st.just("purge_dead"),
        ),
    ),
    min_size=10,
    max_size=40,
)


async def play(backend, script) -> list[object]:
    now = 1_000_000
    log: list[object] = []
    ids: list[str] = []
    held: list[tuple[str, str]] = []
    spent: list[tuple[str, str]] = []
    spec = FetchSpec("w", 1, 100, 1, RETENTION.keep_failed)
    for op in script:
        kind = op[0]
        if kind == "enqueue":
            job_id = f"j{len(ids)}"
            ids.append(job_id)
            new = NewJob(
                job_id, op[4], {"n": len(ids)}, now + op[1], op[2], 1, dedup=op[3], dedup_ttl_ms=0
            )
            log.append(await backend.enqueue([new], now))
        elif kind == "limits":
            await backend.set_limits(LIMITS[op[1]], now)
            log.append((kind, sorted((await backend.limits()).items())))
        elif kind == "advance":
            now += op[1]
        elif kind == "fetch":
            got = await backend.fetch(FetchSpec("w", op[1], 100, 1, 3), now)
            held += [(j.id, j.token) for j in got.jobs]
            log.append(
                (
                    kind,
                    [(j.id, j.token, j.attempts, j.stalls) for j in got.jobs],
                    got.next_wake_ms,
                    got.reclaimed,
                )
            )
        elif kind in ("complete", "fail", "release", "heartbeat") and held:
            job_id, token = held[op[1] % len(held)]
            if kind == "complete":
                if op[2] and spent:
                    job_id, token = spent[-1]
                ok, fetched = await backend.complete(job_id, token, "1", now, RETENTION, spec)
                log.append((kind, ok, [j.id for j in fetched.jobs]))
                held += [(j.id, j.token) for j in fetched.jobs]
            elif kind == "fail":
                ok, fetched = await backend.fail(
                    job_id, token, now, op[2], now + 50, "E", "tb", RETENTION, spec
                )
                log.append((kind, ok, [j.id for j in fetched.jobs]))
                held += [(j.id, j.token) for j in fetched.jobs]
            elif kind == "release":
                log.append((kind, await backend.release(job_id, token, now)))
            else:
                reply = await backend.heartbeat([(job_id, token)], now, 100)
                log.append((kind, reply.lost, reply.aborted))
            if kind != "heartbeat":
                held.remove((job_id, token)) if (job_id, token) in held else None
                spent.append((job_id, token))
        elif kind == "cancel" and ids:
            job_id = ids[op[1] % len(ids)]
            method = backend.abort if op[2] else backend.cancel
            log.append((kind, await method(job_id, now, RETENTION.keep_done)))
        elif kind == "report" and held:
            batch, held = held[: op[1]], held[op[1] :]
            outcomes = [
                Outcome("complete" if n % 2 else "retry", job_id, token, "2", now + 30, "E")
                for n, (job_id, token) in enumerate(batch)
            ]
            oks, fetched = await backend.report(outcomes, now, RETENTION, spec)
            log.append((kind, oks, [j.id for j in fetched.jobs]))
            held += [(j.id, j.token) for j in fetched.jobs]
            spent += batch
        elif kind == "retry_dead":
            log.append((kind, await backend.retry_dead(None, now)))
        elif kind == "purge_dead":
            log.append((kind, await backend.purge_dead(None)))
    stats = await backend.stats(now)
    log.append(("stats", stats))
    for job_id in ids:
        info = await backend.get(job_id)
        log.append(
            None
            if info is None
            else (
                info.id,
                info.status,
                info.attempts,
                info.failures,
                info.stalls,
                info.result,
                info.error,
                info.abort_requested,
            )
        )
    return log


@pytest.mark.redis
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(script=ops)
def test_redis_scripts_match_the_memory_backend(redis_url: str, script: list[tuple]) -> None:
    async def both() -> tuple[list[object], list[object]]:
        expected = await play(AsyncMemoryBackend(MemoryBackend()), script)
        client = aioredis.Redis.from_url(redis_url)
        try:
            actual = await play(AsyncRedisBackend(client, uuid.uuid4().hex), script)
        finally:
            await client.aclose()
        return expected, actual

    expected, actual = asyncio.run(both())
    assert actual == expected
