"""In-process backend: the same state machine as Redis, guarded by a lock, with a clock."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ._backend import FetchSpec, Outcome, Retention, ScheduleRow
from ._limits import QUEUE_LIMIT, UNLIMITED, Stored, rate_budget
from ._model import (
    Clock,
    Fetched,
    HeartbeatReply,
    JobInfo,
    NewJob,
    QueueStats,
    decode_job,
    encode_new_job,
    wait_score,
)

__all__ = ["AsyncMemoryBackend", "MemoryBackend"]

_Row = dict[str, str]

_PARK_BATCH = 1000
"""Most jobs one fetch parks; past that it returns and asks to be called again at once."""


class _Line:
    """Jobs in their waiting order (score, then id): the waiting jobs, or those of one task
    held back by its limits. A job leaves by dropping its id; its heap entry is discarded
    when it comes to the front."""

    __slots__ = ("heap", "ids")

    def __init__(self) -> None:
        self.heap: list[tuple[float, str]] = []
        self.ids: dict[str, float] = {}

    def add(self, score: float, job_id: str) -> None:
        self.ids[job_id] = score
        heapq.heappush(self.heap, (score, job_id))

    def head(self) -> tuple[float, str] | None:
        while self.heap:
            score, job_id = self.heap[0]
            if self.ids.get(job_id) == score:
                return score, job_id
            heapq.heappop(self.heap)
        return None

    def pop(self) -> tuple[float, str] | None:
        """Take the first job out of the line."""
        head = self.head()
        if head is not None:
            heapq.heappop(self.heap)
            del self.ids[head[1]]
        return head


@dataclass(slots=True)
class _Gate:
    """What one fetch may still start of one task: capacity, and what a start records."""

    cap: int
    concurrency: bool = False
    rates: bool = False
    free_at: int = -1


class MemoryBackend:
    """One queue's jobs in this process; thread-safe; every state change is atomic."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[str, _Row] = {}
        self._expires: dict[str, int] = {}
        self._wait = _Line()
        self._wait_since: dict[str, int] = {}
        self._delay: list[tuple[int, str]] = []
        self._delay_ids: dict[str, int] = {}
        self._active: dict[str, int] = {}
        self._done: OrderedDict[str, int] = OrderedDict()
        self._dead: OrderedDict[str, int] = OrderedDict()
        self._dedup: dict[str, tuple[str, int]] = {}
        self._schedules: dict[str, tuple[str, int]] = {}
        self._limits: dict[str, str] = {}
        self._decoded: dict[str, Stored] = {}
        self._task_active: dict[str, set[str]] = {}
        self._starts: dict[str, list[int]] = {}
        self._parked: dict[str, _Line] = {}
        self._park_of: dict[str, str] = {}
        self._seq = 0
        self._token = 0
        self._listeners: list[Callable[[], None]] = []

    # -- notifications ----------------------------------------------------------------
    def add_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- helpers ----------------------------------------------------------------------
    def _row(self, job_id: str, now_ms: int | None = None) -> _Row | None:
        row = self._jobs.get(job_id)
        if row is None:
            return None
        expires = self._expires.get(job_id)
        if expires is not None and now_ms is not None and expires <= now_ms:
            self._drop(job_id)
            return None
        return row

    def _drop(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._expires.pop(job_id, None)
        self._done.pop(job_id, None)
        self._dead.pop(job_id, None)

    def _to_wait(self, job_id: str, row: _Row, now_ms: int) -> None:
        row["status"] = "waiting"
        self._wait.add(float(row["score"]), job_id)
        self._wait_since[job_id] = now_ms

    def _leave_wait(self, job_id: str) -> None:
        self._wait.ids.pop(job_id, None)
        self._wait_since.pop(job_id, None)

    def _unpark(self, job_id: str) -> None:
        task = self._park_of.pop(job_id, None)
        if task is None:
            return
        parked = self._parked[task]
        del parked.ids[job_id]
        if not parked.ids:
            del self._parked[task]
        self._jobs[job_id]["park"] = ""

    def _free_slot(self, job_id: str, row: _Row) -> bool:
        """Give back the concurrency slot a running job holds; True if jobs wait for it."""
        task = row.get("lim", "")
        if not task:
            return False
        row["lim"] = ""
        running = self._task_active.get(task)
        if running is not None:
            running.discard(job_id)
            if not running:
                del self._task_active[task]
        return task in self._parked

    def _to_delay(self, job_id: str, row: _Row, run_at: int) -> None:
        row["status"] = "delayed"
        self._delay_ids[job_id] = run_at
        heapq.heappush(self._delay, (run_at, job_id))

    def _release_dedup(self, row: _Row) -> None:
        key = row.get("dedup", "")
        if key and row.get("dedup_release") == "1":
            held = self._dedup.get(key)
            if held is not None and held[0] == row["id"]:
                del self._dedup[key]

    def _trim(self, ordered: OrderedDict[str, int], keep: int) -> None:
        while len(ordered) > keep:
            job_id, _ = ordered.popitem(last=False)
            self._jobs.pop(job_id, None)
            self._expires.pop(job_id, None)

    def _finish(self, job_id: str, row: _Row, status: str, now_ms: int, keep: int) -> None:
        row["status"] = status
        row["finished"] = str(now_ms)
        row["token"] = ""
        self._release_dedup(row)
        if status == "failed":
            self._dead[job_id] = now_ms
            self._trim(self._dead, keep)
        else:
            self._done[job_id] = now_ms
            self._trim(self._done, keep)

    # -- client operations ------------------------------------------------------------
    def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        with self._lock:
            for job in jobs:
                if job.dedup:
                    held = self._dedup.get(job.dedup)
                    if held is not None and (held[1] == 0 or held[1] > now_ms):
                        out.append((held[0], False))
                        continue
                if self._row(job.id, now_ms) is not None:
                    out.append((job.id, False))
                    continue
                self._seq += 1
                row = {
                    "d": encode_new_job(job),
                    "dedup": job.dedup,
                    "dedup_release": "0" if job.dedup_ttl_ms > 0 else "1",
                }
                row.update(
                    id=job.id,
                    task=job.task,
                    score=repr(wait_score(job.priority, self._seq)),
                    priority=str(job.priority),
                    created=str(now_ms),
                    run_at=str(job.run_at),
                    attempts="0",
                    failures="0",
                    stalls="0",
                )
                self._jobs[job.id] = row
                if job.dedup:
                    expiry = now_ms + job.dedup_ttl_ms if job.dedup_ttl_ms > 0 else 0
                    self._dedup[job.dedup] = (job.id, expiry)
                if job.run_at > now_ms:
                    self._to_delay(job.id, row, job.run_at)
                else:
                    self._to_wait(job.id, row, now_ms)
                out.append((job.id, True))
        self._notify()
        return out

    def get(self, job_id: str) -> JobInfo | None:
        with self._lock:
            row = self._row(job_id, int(self.clock() * 1000))
            return None if row is None else decode_job(row)

    def cancel(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        with self._lock:
            row = self._row(job_id, now_ms)
            if row is None or row["status"] not in ("waiting", "delayed"):
                return False
            self._leave_wait(job_id)
            self._unpark(job_id)
            self._delay_ids.pop(job_id, None)
            self._finish(job_id, row, "cancelled", now_ms, keep_done)
            return True

    def abort(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        with self._lock:
            row = self._row(job_id, now_ms)
            if row is None:
                return False
            if row["status"] == "active":
                row["abort"] = "1"
                return True
            return self.cancel(job_id, now_ms, keep_done)

    def stats(self, now_ms: int) -> QueueStats:
        with self._lock:
            oldest = min(self._wait_since.values(), default=now_ms)
            return QueueStats(
                waiting=len(self._wait.ids) + len(self._park_of),
                delayed=len(self._delay_ids),
                active=len(self._active),
                done=len(self._done),
                failed=len(self._dead),
                oldest_waiting_age=max(0.0, (now_ms - oldest) / 1000),
                parked=len(self._park_of),
            )

    def dead(self, offset: int, limit: int) -> list[JobInfo]:
        with self._lock:
            ids = list(reversed(self._dead))[offset : offset + limit]
            return [decode_job(self._jobs[i]) for i in ids if i in self._jobs]

    def retry_dead(self, ids: Sequence[str] | None, now_ms: int) -> int:
        with self._lock:
            chosen = list(self._dead) if ids is None else [i for i in ids if i in self._dead]
            for job_id in chosen:
                del self._dead[job_id]
                row = self._jobs[job_id]
                row.update(failures="0", stalls="0", finished="", token="")
                self._to_wait(job_id, row, now_ms)
        self._notify()
        return len(chosen)

    def purge_dead(self, ids: Sequence[str] | None) -> int:
        with self._lock:
            chosen = list(self._dead) if ids is None else [i for i in ids if i in self._dead]
            for job_id in chosen:
                self._drop(job_id)
            return len(chosen)

    def add_schedule(self, sched_id: str, spec: str, now_ms: int) -> None:
        with self._lock:
            last = self._schedules.get(sched_id, (spec, now_ms))[1]
            self._schedules[sched_id] = (spec, last)
        self._notify()

    def remove_schedule(self, sched_id: str) -> bool:
        with self._lock:
            return self._schedules.pop(sched_id, None) is not None

    def schedules(self) -> list[ScheduleRow]:
        with self._lock:
            return [ScheduleRow(k, v[0], v[1]) for k, v in sorted(self._schedules.items())]

    def claim_schedule(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> bool:
        with self._lock:
            current = self._schedules.get(sched_id)
            if current is None or current[1] != expected_ms:
                return False
            self._schedules[sched_id] = (current[0], new_ms)
            self.enqueue(jobs, now_ms)
            return True

    def set_limits(self, definitions: Mapping[str, str], now_ms: int) -> None:
        """Store limit definitions (JSON) by task, ``""`` for the queue; empty text removes."""
        with self._lock:
            for task, text in definitions.items():
                if text:
                    self._decoded[task] = Stored.decode(text)
                    self._limits[task] = text
                else:
                    self._decoded.pop(task, None)
                    self._limits.pop(task, None)
        self._notify()

    def limits(self) -> dict[str, str]:
        with self._lock:
            return dict(self._limits)

    # -- worker operations ------------------------------------------------------------
    def fetch(self, spec: FetchSpec, now_ms: int) -> Fetched:
        with self._lock:
            reclaimed = self._reclaim(spec, now_ms)
            self._promote(now_ms)
            jobs: list[JobInfo] = []
            if self._limits or self._parked:
                later = self._fetch_limited(spec, now_ms, jobs)
                wake = self._next_wake()
                if later >= 0 and (wake is None or later < wake):
                    wake = later
                return Fetched(jobs, wake, reclaimed)
            while len(jobs) < spec.n and (head := self._wait.pop()) is not None:
                job_id = head[1]
                self._wait_since.pop(job_id, None)
                jobs.append(self._start(job_id, self._jobs[job_id], spec, now_ms))
            return Fetched(jobs, self._next_wake(), reclaimed)

    def _start(self, job_id: str, row: _Row, spec: FetchSpec, now_ms: int) -> JobInfo:
        self._token += 1
        row.update(
            status="active",
            token=str(self._token),
            started=str(now_ms),
            worker=spec.worker,
            abort="",
            attempts=str(int(row["attempts"]) + 1),
        )
        self._active[job_id] = now_ms + spec.lease_ms
        return decode_job(row)

    def _budget(self, key: str, rates: Sequence[tuple[int, int]], now_ms: int) -> tuple[int, int]:
        starts = self._starts.setdefault(key, [])
        widest = max(window for _, window in rates)
        del starts[: bisect.bisect_right(starts, now_ms - widest)]
        return rate_budget(starts, rates, now_ms)

    def _gate(self, task: str, now_ms: int) -> _Gate:
        gate = _Gate(UNLIMITED)
        stored = self._decoded.get(task)
        if stored is None:
            return gate
        if stored.concurrency:
            gate.concurrency = True
            gate.cap = stored.concurrency - len(self._task_active.get(task, ()))
        if stored.rates:
            gate.rates = True
            budget, free_at = self._budget(task, stored.rates, now_ms)
            if gate.cap > 0:  # a full concurrency limit frees on a completion, not a time
                gate.free_at = free_at
            gate.cap = min(gate.cap, budget)
        return gate

    def _task_of(self, row: _Row) -> str:
        task = row.get("task")
        if task is None:
            task = str(json.loads(row["d"]).get("task", ""))
        return task

    def _fetch_limited(self, spec: FetchSpec, now_ms: int, jobs: list[JobInfo]) -> int:
        """Fetch under limits: jobs of a task at its limit are parked (in their waiting
        order) so the jobs behind them still run; parked jobs compete again, by their
        original order, as soon as their task has room. Returns when to look again (ms, or
        -1): when a rate window frees a task that has parked jobs."""
        wake = -1

        def sooner(at: int) -> None:
            nonlocal wake
            if at >= 0 and (wake < 0 or at < wake):
                wake = at

        n, queue_rates = spec.n, False
        queue = self._decoded.get(QUEUE_LIMIT)
        if queue is not None:
            if queue.concurrency:
                n = min(n, queue.concurrency - len(self._active))
            if queue.rates:
                queue_rates = True
                budget, free_at = self._budget(QUEUE_LIMIT, queue.rates, now_ms)
                n = min(n, budget)
                sooner(free_at)
        if n <= 0:
            return wake
        gates: dict[str, _Gate] = {}
        heads: dict[str, tuple[float, str]] = {}
        for task, held in self._parked.items():
            first = gates[task] = self._gate(task, now_ms)
            head = held.head()
            if first.cap > 0 and head is not None:
                heads[task] = head
            else:
                sooner(first.free_at)
        moved = 0
        while len(jobs) < n and moved < _PARK_BATCH:
            best, source = self._wait.head(), None
            for task, head in heads.items():
                if best is None or head < best:
                    best, source = head, task
            if best is None:
                break
            score, job_id = best
            row = self._jobs[job_id]
            if source is not None:
                task = source
                self._unpark(job_id)
            else:
                self._wait.pop()
                task = self._task_of(row)
            gate = gates.get(task)
            if gate is None:
                gate = gates[task] = self._gate(task, now_ms)
            if gate.cap <= 0:
                parked = self._parked.get(task)
                if parked is None:
                    parked = self._parked[task] = _Line()
                parked.add(score, job_id)
                self._park_of[job_id] = task
                row["park"] = task
                sooner(gate.free_at)
                moved += 1
                continue
            self._wait_since.pop(job_id, None)
            gate.cap -= 1
            if gate.concurrency:
                self._task_active.setdefault(task, set()).add(job_id)
                row["lim"] = task
            if gate.rates:
                bisect.insort(self._starts.setdefault(task, []), now_ms)
            if queue_rates:
                bisect.insort(self._starts.setdefault(QUEUE_LIMIT, []), now_ms)
            jobs.append(self._start(job_id, row, spec, now_ms))
            if gate.cap <= 0 or task not in self._parked:
                heads.pop(task, None)
            elif source is not None:
                head = self._parked[task].head()
                if head is None:
                    heads.pop(task, None)
                else:
                    heads[task] = head
        if moved >= _PARK_BATCH:
            sooner(now_ms)
        return wake

    def _reclaim(self, spec: FetchSpec, now_ms: int) -> int:
        expired = [i for i, until in self._active.items() if until <= now_ms]
        for job_id in expired:
            del self._active[job_id]
            row = self._jobs.get(job_id)
            if row is None:
                continue
            self._free_slot(job_id, row)
            stalls = int(row["stalls"]) + 1
            row["stalls"] = str(stalls)
            row["token"] = ""
            if stalls > spec.max_stalls:
                row["error"] = f"stalled {stalls} times: the worker running it stopped answering"
                row["traceback"] = ""
                self._finish(job_id, row, "failed", now_ms, spec.keep_failed)
            else:
                self._to_wait(job_id, row, now_ms)
        return len(expired)

    def _promote(self, now_ms: int) -> None:
        while self._delay and self._delay[0][0] <= now_ms:
            run_at, job_id = heapq.heappop(self._delay)
            if self._delay_ids.get(job_id) != run_at:
                continue
            del self._delay_ids[job_id]
            self._to_wait(job_id, self._jobs[job_id], now_ms)

    def _next_wake(self) -> int | None:
        times = [*self._delay_ids.values(), *self._active.values()]
        return min(times) if times else None

    def _owned(self, job_id: str, token: str) -> _Row | None:
        row = self._jobs.get(job_id)
        if row is None or row["status"] != "active" or row["token"] != token or not token:
            return None
        return row

    def complete(
        self,
        job_id: str,
        token: str,
        result: str,
        now_ms: int,
        retention: Retention,
        spec: FetchSpec,
    ) -> tuple[bool, Fetched]:
        freed = False
        with self._lock:
            row = self._owned(job_id, token)
            if row is not None:
                del self._active[job_id]
                freed = self._free_slot(job_id, row)
                row["result"] = result
                self._finish(job_id, row, "completed", now_ms, retention.keep_done)
                if retention.result_ttl_ms > 0:
                    self._expires[job_id] = now_ms + retention.result_ttl_ms
            fetched = self.fetch(spec, now_ms) if spec.n > 0 else Fetched([])
        if freed:
            self._notify()
        return row is not None, fetched

    def fail(
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
    ) -> tuple[bool, Fetched]:
        with self._lock:
            row = self._owned(job_id, token)
            if row is not None:
                del self._active[job_id]
                self._free_slot(job_id, row)
                row.update(error=error, traceback=traceback, token="")
                if outcome == "aborted":
                    self._finish(job_id, row, "aborted", now_ms, retention.keep_done)
                else:
                    row["failures"] = str(int(row["failures"]) + 1)
                    if outcome == "dead":
                        self._finish(job_id, row, "failed", now_ms, retention.keep_failed)
                    elif retry_at_ms > now_ms:
                        self._to_delay(job_id, row, retry_at_ms)
                    else:
                        self._to_wait(job_id, row, now_ms)
            fetched = self.fetch(spec, now_ms) if spec.n > 0 else Fetched([])
        self._notify()
        return row is not None, fetched

    def report(
        self, outcomes: Sequence[Outcome], now_ms: int, retention: Retention, spec: FetchSpec
    ) -> tuple[list[bool], Fetched]:
        """Apply several outcomes and fetch in one atomic step (as the Redis script does)."""
        none = FetchSpec(spec.worker, 0, spec.lease_ms, spec.max_stalls, spec.keep_failed)
        oks: list[bool] = []
        with self._lock:
            for o in outcomes:
                if o.kind == "complete":
                    ok, _ = self.complete(o.job_id, o.token, o.result, now_ms, retention, none)
                else:
                    ok, _ = self.fail(
                        o.job_id,
                        o.token,
                        now_ms,
                        o.kind,
                        o.retry_at_ms,
                        o.error,
                        o.traceback,
                        retention,
                        none,
                    )
                oks.append(ok)
            fetched = self.fetch(spec, now_ms) if spec.n > 0 else Fetched([])
        return oks, fetched

    def release(self, job_id: str, token: str, now_ms: int) -> bool:
        with self._lock:
            row = self._owned(job_id, token)
            if row is not None:
                del self._active[job_id]
                self._free_slot(job_id, row)
                row["token"] = ""
                self._to_wait(job_id, row, now_ms)
        self._notify()
        return row is not None

    def heartbeat(
        self, leases: Sequence[tuple[str, str]], now_ms: int, lease_ms: int
    ) -> HeartbeatReply:
        lost: list[str] = []
        aborted: list[str] = []
        with self._lock:
            for job_id, token in leases:
                row = self._owned(job_id, token)
                if row is None:
                    lost.append(job_id)
                    continue
                self._active[job_id] = now_ms + lease_ms
                if row.get("abort") == "1":
                    aborted.append(job_id)
        return HeartbeatReply(lost, aborted)

    def progress(self, job_id: str, token: str, value: str) -> bool:
        with self._lock:
            row = self._owned(job_id, token)
            if row is not None:
                row["progress"] = value
            return row is not None


class AsyncMemoryBackend:
    """The async face of a :class:`MemoryBackend`; waiting wakes on any change."""

    def __init__(self, store: MemoryBackend) -> None:
        self.store = store
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _wake(self) -> None:
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(event.set)

    async def enqueue(self, jobs: Sequence[NewJob], now_ms: int) -> list[tuple[str, bool]]:
        return self.store.enqueue(jobs, now_ms)

    async def get(self, job_id: str) -> JobInfo | None:
        return self.store.get(job_id)

    async def cancel(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        return self.store.cancel(job_id, now_ms, keep_done)

    async def abort(self, job_id: str, now_ms: int, keep_done: int) -> bool:
        return self.store.abort(job_id, now_ms, keep_done)

    async def stats(self, now_ms: int) -> QueueStats:
        return self.store.stats(now_ms)

    async def dead(self, offset: int, limit: int) -> list[JobInfo]:
        return self.store.dead(offset, limit)

    async def retry_dead(self, ids: Sequence[str] | None, now_ms: int) -> int:
        return self.store.retry_dead(ids, now_ms)

    async def purge_dead(self, ids: Sequence[str] | None) -> int:
        return self.store.purge_dead(ids)

    async def add_schedule(self, sched_id: str, spec: str, now_ms: int) -> None:
        self.store.add_schedule(sched_id, spec, now_ms)

    async def remove_schedule(self, sched_id: str) -> bool:
        return self.store.remove_schedule(sched_id)

    async def schedules(self) -> list[ScheduleRow]:
        return self.store.schedules()

    async def claim_schedule(
        self, sched_id: str, expected_ms: int, new_ms: int, jobs: Sequence[NewJob], now_ms: int
    ) -> bool:
        return self.store.claim_schedule(sched_id, expected_ms, new_ms, jobs, now_ms)

    async def set_limits(self, definitions: Mapping[str, str], now_ms: int) -> None:
        self.store.set_limits(definitions, now_ms)

    async def limits(self) -> dict[str, str]:
        return self.store.limits()

    async def fetch(self, spec: FetchSpec, now_ms: int) -> Fetched:
        if self._event is None:
            self._loop = asyncio.get_running_loop()
            self._event = asyncio.Event()
            self.store.add_listener(self._wake)
        self._event.clear()
        return self.store.fetch(spec, now_ms)

    async def wait(self, seconds: float) -> None:
        if self._event is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self._event.wait(), max(0.0, seconds))
        except TimeoutError:
            return

    async def complete(
        self,
        job_id: str,
        token: str,
        result: str,
        now_ms: int,
        retention: Retention,
        spec: FetchSpec,
    ) -> tuple[bool, Fetched]:
        return self.store.complete(job_id, token, result, now_ms, retention, spec)

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
    ) -> tuple[bool, Fetched]:
        return self.store.fail(
            job_id, token, now_ms, outcome, retry_at_ms, error, traceback, retention, spec
        )

    async def report(
        self, outcomes: Sequence[Outcome], now_ms: int, retention: Retention, spec: FetchSpec
    ) -> tuple[list[bool], Fetched]:
        return self.store.report(outcomes, now_ms, retention, spec)

    async def release(self, job_id: str, token: str, now_ms: int) -> bool:
        return self.store.release(job_id, token, now_ms)

    async def heartbeat(
        self, leases: Sequence[tuple[str, str]], now_ms: int, lease_ms: int
    ) -> HeartbeatReply:
        return self.store.heartbeat(leases, now_ms, lease_ms)

    async def progress(self, job_id: str, token: str, value: str) -> bool:
        return self.store.progress(job_id, token, value)

    async def aclose(self) -> None:
        self.store.remove_listener(self._wake)
        self._event = None
        self._loop = None
