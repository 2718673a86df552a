"""Contract tests of Queue/AsyncQueue on memory:// and Redis: what a caller sees."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from erp_professional.config import ProfessionalConfig, QueueConfig
from erp_professional.queue import (
    AsyncQueue,
    InvalidJobArguments,
    JobNotFound,
    JobRequest,
    JobStatus,
    Queue,
)


class Address(BaseModel):
    street: str
    city: str


def make(url: str, config: QueueConfig | None = None) -> Queue:
    q = Queue(url, "api", config=config)

    @q.task(name="email.send", retries=2)
    def send(to: str, subject: str, copies: int = 1, address: Address | None = None) -> str:
        return f"{to}:{subject}:{copies}"

    return q


def test_enqueue_returns_a_waiting_job_with_validated_arguments(queue_url: str) -> None:
    q = make(queue_url)
    job = q.enqueue("email.send", {"to": "a@example.com", "subject": "hi", "copies": "3"})
    assert job.status is JobStatus.WAITING
    stored = q.get_job(job.id)
    assert stored.info.kwargs == {
        "to": "a@example.com",
        "subject": "hi",
        "copies": 3,
        "address": None,
    }
    assert stored.info.max_retries == 2
    assert q.stats().waiting == 1


def test_bad_arguments_fail_at_enqueue_and_store_nothing(queue_url: str) -> None:
    q = make(queue_url)
    with pytest.raises(InvalidJobArguments) as info:
        q.enqueue("email.send", {"to": "x", "copies": "many", "extra": 1})
    text = str(info.value)
    assert "subject" in text and "copies" in text and "extra" in text
    assert q.stats().waiting == 0


def test_bulk_enqueue_is_all_or_nothing_on_validation(queue_url: str) -> None:
    q = make(queue_url)
    good = ("email.send", {"to": "a", "subject": "s"})
    with pytest.raises(InvalidJobArguments):
        q.enqueue_many([good, ("email.send", {"to": "b"})])
    assert q.stats().waiting == 0
    jobs = q.enqueue_many([good, JobRequest("email.send", {"to": "c", "subject": "t"}, delay=60)])
    assert [j.status for j in jobs] == [JobStatus.WAITING, JobStatus.DELAYED]
    stats = q.stats()
    assert (stats.waiting, stats.delayed) == (1, 1)


def test_task_handle_enqueues_and_still_calls_directly(queue_url: str) -> None:
    q = Queue(queue_url, "api")

    @q.task
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8
    job = double.enqueue(x=4)
    assert job.info.task.endswith("double")
    assert double.enqueue(5).info.kwargs == {"x": 5}
    with pytest.raises(InvalidJobArguments):
        double.enqueue(x=[1])


def test_unknown_task_names_accept_json_and_reject_the_rest(queue_url: str) -> None:
    q = Queue(queue_url, "api")
    q.add_job("elsewhere", {"n": 1})
    with pytest.raises(InvalidJobArguments):
        q.add_job("elsewhere", {"when": datetime.now(UTC)})
    with pytest.raises(InvalidJobArguments):
        q.add_job("elsewhere", {"n": float("nan")})
    assert q.stats().waiting == 1


def test_same_job_id_is_stored_once(queue_url: str) -> None:
    q = make(queue_url)
    a = q.enqueue("email.send", {"to": "a", "subject": "s"}, job_id="invoice-7")
    b = q.enqueue("email.send", {"to": "other", "subject": "s"}, job_id="invoice-7")
    assert a.id == b.id == "invoice-7"
    assert b.info.kwargs["to"] == "a"
    assert q.stats().waiting == 1


def test_dedup_key_returns_the_held_job(queue_url: str) -> None:
    q = make(queue_url)
    a = q.enqueue("email.send", {"to": "a", "subject": "s"}, dedup_key="k", dedup_ttl=60)
    b = q.enqueue("email.send", {"to": "a", "subject": "s"}, dedup_key="k", dedup_ttl=60)
    assert a.id == b.id
    assert q.stats().waiting == 1


def test_unique_task_deduplicates_identical_arguments_until_finished(queue_url: str) -> None:
    q = Queue(queue_url, "api")

    @q.task(unique=True)
    def sync_customer(customer: int) -> None:
        return None

    first = sync_customer.enqueue(customer=1)
    assert sync_customer.enqueue(customer=1).id == first.id
    assert sync_customer.enqueue(customer=2).id != first.id
    assert first.cancel()
    assert sync_customer.enqueue(customer=1).id != first.id


def test_cancel_only_affects_jobs_that_have_not_started(queue_url: str) -> None:
    q = make(queue_url)
    job = q.enqueue("email.send", {"to": "a", "subject": "s"}, delay=30)
    assert job.cancel()
    assert job.refresh().status is JobStatus.CANCELLED
    assert not job.cancel()
    assert q.stats().delayed == 0


def test_get_job_of_unknown_id_raises(queue_url: str) -> None:
    with pytest.raises(JobNotFound):
        make(queue_url).get_job("nope")


def test_invalid_options_are_rejected(queue_url: str) -> None:
    q = make(queue_url)
    kw = {"to": "a", "subject": "s"}
    with pytest.raises(ValueError, match="priority"):
        q.enqueue("email.send", kw, priority=5000)
    with pytest.raises(ValueError, match="delay"):
        q.enqueue("email.send", kw, delay=-1)
    with pytest.raises(ValueError, match="timezone"):
        q.enqueue("email.send", kw, run_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="not both"):
        q.enqueue("email.send", kw, delay=1, run_at=datetime.now(UTC))
    with pytest.raises(ValueError, match="retries"):
        q.enqueue("email.send", kw, retries=-1)
    assert q.stats().waiting == 0


def test_run_at_in_the_future_is_delayed(queue_url: str) -> None:
    q = make(queue_url)
    job = q.enqueue(
        "email.send", {"to": "a", "subject": "s"}, run_at=datetime.now(UTC) + timedelta(hours=1)
    )
    assert job.status is JobStatus.DELAYED
    assert job.refresh().info.run_at is not None


def test_schedules_are_stored_described_and_removed(queue_url: str) -> None:
    q = make(queue_url)
    q.schedule(
        "0 8 * * MON",
        "email.send",
        {"to": "boss", "subject": "weekly"},
        tz="Europe/Berlin",
        id="weekly",
    )
    [row] = q.schedules()
    assert row.schedule.task == "email.send"
    assert "Monday" in row.description and "Europe/Berlin" in row.description
    assert row.next_fire.astimezone(row.next_fire.tzinfo).weekday() in (0, 6)
    with pytest.raises(ValueError, match="cron"):
        q.schedule("61 * * * *", "email.send", {"to": "x", "subject": "y"})
    with pytest.raises(ValueError, match="time zone"):
        q.schedule("* * * * *", "email.send", {"to": "x", "subject": "y"}, tz="Mars/Base")
    with pytest.raises(InvalidJobArguments):
        q.schedule("* * * * *", "email.send", {"to": "x"})
    assert q.unschedule("weekly")
    assert q.schedules() == []


@pytest.mark.anyio
async def test_async_queue_has_the_same_methods(queue_url: str) -> None:
    q = AsyncQueue(queue_url, "api")

    @q.task(name="resize")
    async def resize(width: int, height: int) -> int:
        return width * height

    job = await resize.enqueue(width=2, height=3)
    assert (await q.get_job(job.id)).status is JobStatus.WAITING
    with pytest.raises(InvalidJobArguments):
        await resize.enqueue(width="wide", height=3)
    jobs = await q.enqueue_many([("resize", {"width": 1, "height": 1})] * 3)
    assert len({j.id for j in jobs}) == 3
    delayed = await q.add_job("resize", {"width": 1, "height": 2}, delay=60)
    assert await delayed.cancel()
    stats = await q.stats()
    assert (stats.waiting, stats.delayed, stats.done) == (4, 0, 1)
    sync_names = {n for n in dir(Queue) if not n.startswith("_")}
    async_names = {n for n in dir(AsyncQueue) if not n.startswith("_")} - {"backend"}
    assert sync_names == async_names


def test_queue_config_is_a_section_with_env_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PRO_QUEUE__CONCURRENCY", "7")
    monkeypatch.setenv("ERP_PRO_QUEUE__URL", "redis://127.0.0.1:6379/3")
    config = ProfessionalConfig()
    assert config.queue.concurrency == 7
    assert config.queue.url.startswith("redis://")
    with pytest.raises(ValueError, match="url"):
        QueueConfig(url="ftp://x")
    with pytest.raises(ValueError, match="heartbeat_interval"):
        QueueConfig(lease_time=1, heartbeat_interval=2)


def test_public_names() -> None:
    import erp_professional.queue as queue

    assert queue.__all__ == sorted(queue.__all__)
    for name in ("AsyncQueue", "Queue", "Worker", "Job", "JobStatus", "current_job"):
        assert name in queue.__all__
        assert getattr(queue, name) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.none() | st.integers() | st.text() | st.floats(allow_nan=True, allow_infinity=True),
        max_size=4,
    )
)
def test_arbitrary_arguments_are_stored_exactly_or_rejected(kwargs: dict[str, object]) -> None:
    q = Queue("memory://hypothesis-args", "h")

    @q.task(name="typed")
    def typed(n: int, label: str = "x") -> None:
        return None

    before = q.stats().waiting
    try:
        job = q.enqueue("typed", kwargs)
    except InvalidJobArguments:
        assert q.stats().waiting == before
        return
    assert set(kwargs) <= {"n", "label"}
    assert q.get_job(job.id).info.kwargs["n"] == kwargs["n"]
    assert asyncio.iscoroutinefunction(typed) is False
