"""The small protocol every queue backend implements (sync face and async face)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ._model import Fetched, HeartbeatReply, JobInfo, NewJob, QueueStats

__all__ = ["AsyncBackend", "Backend", "FetchSpec", "Outcome", "Retention", "ScheduleRow"]


@dataclass(frozen=True, slots=True)
class FetchSpec:
    """How many jobs a worker takes, for how long, and when a stalled job is poison."""

    worker: str
    n: int
    lease_ms: int
    max_stalls: int
    keep_failed: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one run ended: ``complete`` (with a JSON result), ``retry`` (at ``retry_at_ms``),
    ``dead`` or ``aborted`` (with the error and traceback)."""

    kind: str
    job_id: str
    token: str
    result: str = "null"
    retry_at_ms: int = 0
    error: str = ""
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class Retention:
    """Caps on finished jobs: how many to keep, and how long a result lives."""

    keep_done: int
    keep_failed: int
    result_ttl_ms: int


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A stored cron schedule: its id, its JSON definition and the last fire time (ms)."""

    id: str
    spec: str
    last_ms: int


class Backend(Protocol):
    """Synchronous operations of a queue backend."""

    def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> list[tuple[str, bool]]: ...
    def get(self, job_id: str) -> JobInfo | None: ...
    def cancel(self, job_id: str, now_ms: int, keep_done: int) -> bool: ...
    def abort(self, job_id: str, now_ms: int, keep_done: int) -> bool: ...
    def stats(self, now_ms: int) -> QueueStats: ...
    def dead(self, offset: int, limit: int) -> list[JobInfo]: ...
    def retry_dead(self, ids: Sequence[str] | None, now_ms: int) -> int: ...
    def purge_dead(self, ids: Sequence[str] | None) -> int: ...
    def add_schedule(self, sched_id: str, spec: str, now_ms: int) -> None: ...
    def remove_schedule(self, sched_id: str) -> bool: ...
    def schedules(self) -> list[ScheduleRow]: ...
    def claim_schedule(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> bool: ...
    def set_limits(self, definitions: Mapping[str, str], now_ms: int) -> None: ...
    def limits(self) -> dict[str, str]: ...


class AsyncBackend(Protocol):
    """Asynchronous operations of a queue backend, including those a worker needs."""

    async def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> list[tuple[str, bool]]: ...
    async def get(self, job_id: str) -> JobInfo | None: ...
    async def cancel(self, job_id: str, now_ms: int, keep_done: int) -> bool: ...
    async def abort(self, job_id: str, now_ms: int, keep_done: int) -> bool: ...
    async def stats(self, now_ms: int) -> QueueStats: ...
    async def dead(self, offset: int, limit: int) -> list[JobInfo]: ...
    async def retry_dead(self, ids: Sequence[str] | None, now_ms: int) -> int: ...
    async def purge_dead(self, ids: Sequence[str] | None) -> int: ...
    async def add_schedule(self, sched_id: str, spec: str, now_ms: int) -> None: ...
    async def remove_schedule(self, sched_id: str) -> bool: ...
    async def schedules(self) -> list[ScheduleRow]: ...
    async def claim_schedule(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> bool: ...
    async def set_limits(self, definitions: Mapping[str, str], now_ms: int) -> None: ...
    async def limits(self) -> dict[str, str]: ...
    async def fetch(self, spec: FetchSpec, now_ms: int) -> Fetched: ...
    async def wait(self, seconds: float) -> None: ...
    async def complete(
        self,
        job_id: str,
        token: str,
        result: str,
        now_ms: int,
        retention: Retention,
        spec: FetchSpec,
    ) -> tuple[bool, Fetched]: ...
    async def fail(
        self,
        job_id: str,
        token: str,
        now_ms: int,
        outcome: str,
        retry_at_ms: int,
        error: str,
        traceback: str,
        retention: Retention,
        spec: FetchSpec,
    ) -> tuple[bool, Fetched]: ...
    async def report(
        self, outcomes: Sequence[Outcome], now_ms: int, retention: Retention, spec: FetchSpec
    ) -> tuple[list[bool], Fetched]: ...
    async def release(self, job_id: str, token: str, now_ms: int) -> bool: ...
    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], now_ms: int, lease_ms: int
    ) -> HeartbeatReply: ...
    async def progress(self, job_id: str, token: str, value: str) -> bool: ...
    async def aclose(self) -> None: ...
