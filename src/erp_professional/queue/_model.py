"""Sans-I/O core shared by every backend: job records, their encoding, retry decisions."""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote

__all__ = [
    "JSON",
    "Clock",
    "Fetched",
    "HeartbeatReply",
    "JobInfo",
    "JobStatus",
    "NewJob",
    "QueueStats",
    "decode_job",
    "encode_new_job",
    "json_text",
    "retry_delay",
    "wait_score",
]

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
Clock = Callable[[], float]
"""A clock returns seconds since the epoch, like ``time.time``."""

PRIORITY_LIMIT = 1000
_SEQ_SPAN = 1_000_000_000_000


class JobStatus(enum.StrEnum):
    """Where a job is in its life."""

    WAITING = "waiting"
    DELAYED = "delayed"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.ABORTED}
)


def wait_score(priority: int, seq: int) -> float:
    """Order of the waiting set: higher priority first, then first in, first out."""
    return float(-priority * _SEQ_SPAN + seq)


@dataclass(slots=True)
class NewJob:
    """A job about to be stored (validated arguments, absolute times in milliseconds).

    Not frozen: it is built once per enqueued job and a frozen dataclass pays for every
    field it sets; nothing changes it after ``QueueCore.new_job``."""

    id: str
    task: str
    kwargs: Mapping[str, JSON]
    run_at: int
    priority: int = 0
    max_retries: int = 0
    backoff_ms: int = 1000
    timeout_ms: int = 0
    dedup: str = ""
    dedup_ttl_ms: int = 0
    traceparent: str = ""
    kwargs_json: str = ""
    """``kwargs`` already encoded (saves encoding them twice); empty: encode them."""


_COMPACT = json.JSONEncoder(separators=(",", ":"))
_STRICT = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def json_text(value: object) -> str:
    """Compact JSON that refuses NaN and infinities (``ValueError``) and what JSON cannot
    hold (``TypeError``): ``json.dumps(value, allow_nan=False, separators=(",", ":"))``
    without building an encoder per call."""
    return _STRICT.encode(value)


def encode_new_job(job: NewJob) -> str:
    """The fields of a job that never change, as the one JSON string backends store:
    ``{"kwargs":…,"task":…,"max_retries":…,"backoff":…,"timeout":…,"traceparent":…}``."""
    kwargs = job.kwargs_json or _COMPACT.encode(job.kwargs)
    return (
        f'{{"kwargs":{kwargs},"task":{_quote(job.task)},"max_retries":{int(job.max_retries)},'
        f'"backoff":{int(job.backoff_ms)},"timeout":{int(job.timeout_ms)},'
        f'"traceparent":{_quote(job.traceparent)}}}'
    )


def _ms(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(float(value)) / 1000, tz=UTC)


def _json(value: str | None) -> JSON:
    if value is None or value == "":
        return None
    result: JSON = json.loads(value)
    return result


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A snapshot of one job as stored."""

    id: str
    task: str
    kwargs: dict[str, JSON]
    status: JobStatus
    priority: int = 0
    attempts: int = 0
    failures: int = 0
    stalls: int = 0
    max_retries: int = 0
    backoff_ms: int = 1000
    timeout_ms: int = 0
    created_at: datetime | None = None
    run_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: JSON = None
    error: str | None = None
    traceback: str | None = None
    progress: JSON = None
    token: str = ""
    traceparent: str = ""
    dedup: str = ""
    abort_requested: bool = False
    worker: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def decode_job(raw: Mapping[str, str]) -> JobInfo:
    """Build a snapshot from the string fields a backend stores."""
    static = json.loads(raw.get("d") or "{}")
    return JobInfo(
        id=raw["id"],
        task=static.get("task", ""),
        kwargs=static.get("kwargs", {}),
        status=JobStatus(raw.get("status", "waiting")),
        priority=int(float(raw.get("priority") or 0)),
        attempts=int(raw.get("attempts") or 0),
        failures=int(raw.get("failures") or 0),
        stalls=int(raw.get("stalls") or 0),
        max_retries=int(static.get("max_retries", 0)),
        backoff_ms=int(static.get("backoff", 0)),
        timeout_ms=int(static.get("timeout", 0)),
        created_at=_ms(raw.get("created")),
        run_at=_ms(raw.get("run_at")),
        started_at=_ms(raw.get("started")),
        finished_at=_ms(raw.get("finished")),
        result=_json(raw.get("result")),
        error=raw.get("error") or None,
        traceback=raw.get("traceback") or None,
        progress=_json(raw.get("progress")),
        token=raw.get("token", ""),
        traceparent=static.get("traceparent", ""),
        dedup=raw.get("dedup", ""),
        abort_requested=raw.get("abort") == "1",
        worker=raw.get("worker", ""),
    )


def retry_delay(failures: int, base_ms: int, cap_ms: int, rng: random.Random) -> int:
    """Exponential backoff with equal jitter: half the step fixed, half random."""
    step = min(cap_ms, base_ms << min(62, max(0, failures - 1)))
    half = step // 2
    return half + rng.randint(0, step - half)


@dataclass(frozen=True, slots=True)
class Fetched:
    """Jobs leased to a worker, when to look again (ms, or None), leases reclaimed."""

    jobs: list[JobInfo]
    next_wake_ms: int | None = None
    reclaimed: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """Leases a worker no longer holds, and jobs someone asked to abort."""

    lost: list[str]
    aborted: list[str]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts per state and the age of the oldest waiting job (seconds, 0 if none).

    ``waiting`` includes the ``parked`` jobs: waiting jobs held back because their task is
    at its concurrency or rate limit."""

    waiting: int
    delayed: int
    active: int
    done: int
    failed: int
    oldest_waiting_age: float
    parked: int = 0
