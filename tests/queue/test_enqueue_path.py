"""The one-job enqueue path: the argument check without pydantic, job ids, the stored job
text, and the Redis call that skips the client's per-command layers."""

from __future__ import annotations

import asyncio
import json
import math
import typing
import uuid
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional.queue import AsyncQueue, InvalidJobArguments, JobStatus, Queue
from erp_professional.queue._core import new_job_id
from erp_professional.queue._model import NewJob, encode_new_job
from erp_professional.queue._task import TaskOptions, TaskSpec


# -- arguments checked without pydantic give what pydantic gives --------------------------
def plain(a, b=2, c=None):  # type: ignore[no-untyped-def]
    return None


def typed(n: int, label: str = "x", ratio: float = 0.5, flag: bool = False) -> None:
    return None


def optional(n: int | None, tag: typing.Optional[str] = None, when: float | str = "now") -> None:  # noqa: UP045
    return None


def containers(items: list[int], extra: dict[str, int] | None = None, m: Any = 3) -> None:
    return None


def open_ended(n: int, **rest: Any) -> None:
    return None


def odd_defaults(x: float = 1, z: list[int] | None = None, w: int | None = 0) -> None:
    return None


FUNCTIONS = [plain, typed, optional, containers, open_ended, odd_defaults]
NAMES = ["a", "b", "c", "n", "label", "ratio", "flag", "tag", "when", "items", "extra", "m"]
NAMES += ["rest", "x", "w", "z", "other"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4)
)
values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=2), scalars)


def _slow(spec: TaskSpec[..., Any], kwargs: dict[str, object]) -> object:
    plan, spec._plan = spec._plan, None
    try:
        return ("ok", spec.validate(kwargs))
    except InvalidJobArguments as exc:
        return ("error", exc.problems)
    finally:
        spec._plan = plan


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fn=st.sampled_from(FUNCTIONS),
    kwargs=st.dictionaries(st.sampled_from(NAMES), values, max_size=5),
)
def test_the_shortcut_agrees_with_pydantic(fn: Any, kwargs: dict[str, object]) -> None:
    spec: TaskSpec[..., Any] = TaskSpec(fn, fn.__name__, TaskOptions())
    expected = _slow(spec, kwargs)
    try:
        got: object = ("ok", spec.validate(kwargs))
    except InvalidJobArguments as exc:
        got = ("error", exc.problems)
    assert got == expected
    if got[0] == "ok":
        assert list(got[1]) == list(expected[1])  # type: ignore[index]  # the same order
        # And the same JSON types (True is not 1, 1.0 is not 1).
        assert json.dumps(got[1]) == json.dumps(expected[1])  # type: ignore[index]


def test_the_shortcut_is_taken_for_plain_scalars() -> None:
    spec: TaskSpec[..., Any] = TaskSpec(typed, "typed", TaskOptions())
    assert spec._quick({"n": 3}) == {"n": 3, "label": "x", "ratio": 0.5, "flag": False}
    assert spec._quick({"n": "3"}) is None  # pydantic converts it: its job
    assert spec._quick({"n": True}) is None
    assert spec._quick({"n": 1, "ratio": math.inf}) is None
    assert spec._quick({"n": 1, "unknown": 1}) is None


# -- ids and the stored text --------------------------------------------------------------
def test_job_ids_are_version_4_uuids() -> None:
    ids = {new_job_id() for _ in range(2000)}
    assert len(ids) == 2000
    for job_id in list(ids)[:200]:
        parsed = uuid.UUID(job_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert parsed.hex == job_id


@given(
    task=st.text(min_size=1, max_size=8),
    traceparent=st.text(max_size=8),
    numbers=st.tuples(*[st.integers(0, 2**40)] * 3),
    kwargs=st.dictionaries(st.text(max_size=3), st.integers() | st.text(max_size=3)),
)
def test_the_stored_text_is_the_json_of_the_fields(
    task: str, traceparent: str, numbers: tuple[int, int, int], kwargs: dict[str, object]
) -> None:
    retries, backoff, timeout = numbers
    job = NewJob("id", task, kwargs, 0, 0, retries, backoff, timeout, traceparent=traceparent)  # type: ignore[arg-type]
    text = encode_new_job(job)
    assert json.loads(text) == {
        "kwargs": kwargs,
        "task": task,
        "max_retries": retries,
        "backoff": backoff,
        "timeout": timeout,
        "traceparent": traceparent,
    }
    assert (
        text
        == '{"kwargs":'
        + json.dumps(kwargs, separators=(",", ":"))
        + ","
        + json.dumps(
            {
                "task": task,
                "max_retries": retries,
                "backoff": backoff,
                "timeout": timeout,
                "traceparent": traceparent,
            },
            separators=(",", ":"),
        )[1:]
    )


# -- the direct Redis call ----------------------------------------------------------------
def _drop_connections(url: str) -> int:
    db = int(url.rsplit("/", 1)[1].split("?")[0])
    killed = 0
    with redis.Redis.from_url(url) as admin:
        me = admin.client_id()
        for client in admin.client_list():
            if int(client["db"]) == db and int(client["id"]) != me:
                killed += admin.client_kill_filter(_id=client["id"])
    return killed


def test_sync_enqueue_survives_a_script_flush_and_dropped_connections(redis_url: str) -> None:
    q = Queue(redis_url, "direct")
    first = q.enqueue("t", {"i": 0})
    with redis.Redis.from_url(redis_url) as admin:
        admin.script_flush()
    second = q.enqueue("t", {"i": 1})  # NOSCRIPT: loaded again on the same connection
    assert _drop_connections(redis_url) > 0
    third = q.enqueue("t", {"i": 2})  # the pool replaces the dead connection it hands out
    again = q.enqueue("t", {"i": 3}, job_id=third.id)
    assert again.id == third.id and again.status is JobStatus.WAITING
    assert [q.get_job(j.id).info.kwargs["i"] for j in (first, second, third)] == [0, 1, 2]
    assert q.stats().waiting == 3


@pytest.mark.anyio
async def test_async_enqueue_survives_a_script_flush_and_dropped_connections(
    redis_url: str,
) -> None:
    q = AsyncQueue(redis_url, "direct")
    await q.enqueue("t", {"i": 0})
    with redis.Redis.from_url(redis_url) as admin:
        admin.script_flush()
    await q.enqueue("t", {"i": 1})
    assert await asyncio.to_thread(_drop_connections, redis_url) > 0
    await q.enqueue("t", {"i": 2})
    await q.enqueue("t", {"i": 3})
    assert (await q.stats()).waiting == 4


@pytest.mark.anyio
async def test_concurrent_async_enqueues_share_the_connection_safely(redis_url: str) -> None:
    q = AsyncQueue(redis_url, "direct")

    async def burst(k: int) -> list[str]:
        out = []
        for i in range(20):
            job = await q.enqueue("t", {"k": k, "i": i})
            out.append(job.id)
        return out

    batches = await asyncio.gather(*(burst(k) for k in range(10)))
    ids = [job_id for batch in batches for job_id in batch]
    assert len(set(ids)) == 200
    for k, batch in enumerate(batches):
        infos = [(await q.get_job(job_id)).info.kwargs for job_id in batch]
        assert infos == [{"k": k, "i": i} for i in range(20)]
    backend = q.backend()
    pool = backend.client.connection_pool  # type: ignore[attr-defined]
    in_use = len(pool._in_use_connections)
    await backend.aclose()
    assert len(pool._in_use_connections) == in_use - 1  # its own connection went back


@pytest.mark.anyio
async def test_a_cancelled_enqueue_leaves_the_connection_usable(redis_url: str) -> None:
    q = AsyncQueue(redis_url, "direct")
    await q.enqueue("t", {"i": -1})
    for turns in range(6):
        task = asyncio.create_task(q.enqueue("t", {"i": turns}))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        job = await q.enqueue("t", {"after": turns})
        assert (await q.get_job(job.id)).info.kwargs == {"after": turns}
