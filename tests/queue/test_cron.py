"""Cron schedules: DST-correct fire times, misfire policies, exactly-once firing."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from erp_professional.queue import Misfire, Queue, Schedule, Worker
from erp_professional.queue._cron import due_fires

BERLIN = ZoneInfo("Europe/Berlin")


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def local(ms_value: int) -> datetime:
    return datetime.fromtimestamp(ms_value / 1000, BERLIN)


def test_daily_job_keeps_local_time_across_dst() -> None:
    s = Schedule("d", "0 8 * * *", "t", tz="Europe/Berlin")
    start = ms(datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN))
    fires, _, _ = due_fires(
        s.__class__("d", "0 8 * * *", "t", tz="Europe/Berlin", misfire=Misfire.CATCH_UP),
        start,
        ms(datetime(2026, 3, 31, 9, 0, tzinfo=BERLIN)),
    )
    assert [local(f).hour for f in fires] == [8, 8, 8, 8]
    gaps = {(b - a) / 3_600_000 for a, b in itertools.pairwise(fires)}
    assert gaps == {24.0, 23.0}  # the night clocks go forward is one hour short
    assert s.describe().endswith("(Europe/Berlin)")


def test_nonexistent_local_time_fires_once_and_repeated_hour_once() -> None:
    s = Schedule("n", "30 2 * * *", "t", tz="Europe/Berlin", misfire=Misfire.CATCH_UP)
    spring = due_fires(
        s,
        ms(datetime(2026, 3, 28, 12, tzinfo=BERLIN)),
        ms(datetime(2026, 3, 29, 12, tzinfo=BERLIN)),
    )[0]
    assert len(spring) == 1  # 02:30 does not exist that night; it runs once, at 03:00
    autumn = due_fires(
        s,
        ms(datetime(2026, 10, 24, 12, tzinfo=BERLIN)),
        ms(datetime(2026, 10, 25, 12, tzinfo=BERLIN)),
    )[0]
    assert len(autumn) == 1  # 02:30 happens twice that night; it runs once


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(Misfire.CATCH_UP, 5), (Misfire.RUN_ONCE, 1), (Misfire.SKIP, 0)],
)
def test_misfire_policies(policy: Misfire, expected: int) -> None:
    s = Schedule("m", "0 * * * *", "t", misfire=policy, grace=60)
    last = ms(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    now = ms(datetime(2026, 1, 1, 5, 30, tzinfo=UTC))
    fires, new_last, upcoming = due_fires(s, last, now)
    assert len(fires) == expected
    assert new_last == ms(datetime(2026, 1, 1, 5, 0, tzinfo=UTC))
    assert upcoming == ms(datetime(2026, 1, 1, 6, 0, tzinfo=UTC))


def test_skip_fires_when_within_grace() -> None:
    s = Schedule("m", "0 * * * *", "t", misfire=Misfire.SKIP, grace=60)
    last = ms(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    fires, _, _ = due_fires(s, last, ms(datetime(2026, 1, 1, 1, 0, 30, tzinfo=UTC)))
    assert fires == [ms(datetime(2026, 1, 1, 1, 0, tzinfo=UTC))]


def test_nothing_due_keeps_the_mark() -> None:
    s = Schedule("m", "0 * * * *", "t")
    last = ms(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    assert due_fires(s, last, last + 1000)[:2] == ([], last)


@pytest.mark.anyio
async def test_each_fire_time_enqueues_exactly_once_across_workers(queue_url: str) -> None:
    clock = [ms(datetime(2026, 1, 1, 7, 59, 30, tzinfo=UTC)) / 1000]
    queues = [Queue(queue_url, "cron", clock=lambda: clock[0]) for _ in range(3)]
    if queues[0].memory is not None:  # memory queues with a clock are private: share one
        queues = [
            Queue(queue_url, "cron", clock=lambda: clock[0], store=queues[0].memory)
            for _ in range(3)
        ]
    for q in queues:
        q.task(name="report")(lambda: None)
    queues[0].schedule("*/15 * * * *", "report", id="quarterly")
    workers = [Worker(q, concurrency=1, scheduler=False) for q in queues]
    clock[0] += 60 * 31  # 08:30:30: 08:00, 08:15 and 08:30 are due, run_once takes 08:30
    await asyncio.gather(*(w.run_scheduler_once() for w in workers for _ in range(3)))
    q = queues[0]
    fire = ms(datetime(2026, 1, 1, 8, 30, tzinfo=UTC))
    assert q.get_job(f"cron:quarterly:{fire}").info.task == "report"
    assert q.stats().waiting == 1
    [row] = q.schedules()
    assert row.last_fire == datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
    assert row.next_fire == datetime(2026, 1, 1, 8, 45, tzinfo=UTC)
