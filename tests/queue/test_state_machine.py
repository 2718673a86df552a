"""Hypothesis state machine: the memory backend's leases, retries, stalls, delays and
global limits against a plain model, driven by an injected clock."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from erp_professional.queue._backend import FetchSpec, Retention
from erp_professional.queue._limits import Limits, Rate
from erp_professional.queue._memory import MemoryBackend
from erp_professional.queue._model import NewJob

LEASE = 60
MAX_STALLS = 1
RETENTION = Retention(keep_done=10_000, keep_failed=10_000, result_ttl_ms=0)
# Task "c" runs one job at a time, "r" starts at most RATE jobs per WINDOW ms; "t" is free.
RATE, WINDOW = 2, 100


@dataclass
class ModelJob:
    id: str
    priority: int
    seq: int
    max_retries: int
    task: str = "t"
    status: str = "waiting"
    run_at: int = 0
    lease_until: int = 0
    token: str = ""
    failures: int = 0
    stalls: int = 0
    attempts: int = 0


class LeaseMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000
        self.store = MemoryBackend(clock=lambda: self.now / 1000)
        self.jobs: dict[str, ModelJob] = {}
        self.seq = 0
        self.tokens: list[int] = []
        self.old_tokens: list[tuple[str, str]] = []
        self.r_starts: list[int] = []
        self.store.set_limits(
            {"c": Limits(1).to_json(), "r": Limits(rate=(Rate(RATE, WINDOW / 1000),)).to_json()},
            self.now,
        )

    def spec(self, n: int) -> FetchSpec:
        return FetchSpec("w", n, LEASE, MAX_STALLS, RETENTION.keep_failed)

    # -- model transitions ------------------------------------------------------------
    def settle(self) -> None:
        """What fetch does before popping: reclaim expired leases, promote due delays."""
        for job in self.jobs.values():
            if job.status == "active" and job.lease_until <= self.now:
                job.stalls += 1
                job.token = ""
                job.status = "failed" if job.stalls > MAX_STALLS else "waiting"
        for job in self.jobs.values():
            if job.status == "delayed" and job.run_at <= self.now:
                job.status = "waiting"

    def active(self) -> list[ModelJob]:
        return [j for j in self.jobs.values() if j.status == "active"]

    # -- rules ------------------------------------------------------------------------
    @rule(
        delay=st.sampled_from([0, 0, 50, 250]),
        priority=st.integers(-2, 2),
        retries=st.integers(0, 2),
        task=st.sampled_from(["t", "t", "c", "r"]),
    )
    def enqueue(self, delay: int, priority: int, retries: int, task: str) -> None:
        self.seq += 1
        job_id = f"j{self.seq}"
        new = NewJob(job_id, task, {}, self.now + delay, priority, retries)
        assert self.store.enqueue([new], self.now) == [(job_id, True)]
        assert self.store.enqueue([new], self.now) == [(job_id, False)]
        model = ModelJob(job_id, priority, self.seq, retries, task, run_at=self.now + delay)
        model.status = "delayed" if delay > 0 else "waiting"
        self.jobs[job_id] = model

    @rule(ms=st.sampled_from([1, 30, 60, 61, 200]))
    def advance(self, ms: int) -> None:
        self.now += ms

    @rule(n=st.integers(1, 3))
    def crash_and_fetch(self, n: int) -> None:
        """A worker dies holding its leases; another fetches once they expire."""
        self.now += LEASE
        self.fetch(n)

    @rule(n=st.integers(1, 3))
    def fetch(self, n: int) -> None:
        self.settle()
        ready = sorted(
            (j for j in self.jobs.values() if j.status == "waiting"),
            key=lambda j: (-j.priority, j.seq),
        )
        # Jobs in waiting order, skipping those whose task is at its limit.
        running_c = sum(1 for j in self.active() if j.task == "c")
        recent_r = sum(1 for t in self.r_starts if t > self.now - WINDOW)
        expected = []
        for job in ready:
            if len(expected) == n:
                break
            if job.task == "c":
                if running_c >= 1:
                    continue
                running_c += 1
            if job.task == "r":
                if recent_r >= RATE:
                    continue
                recent_r += 1
                self.r_starts.append(self.now)
            expected.append(job)
        got = self.store.fetch(self.spec(n), self.now).jobs
        assert [j.id for j in got] == [j.id for j in expected]
        for info, model in zip(got, expected, strict=True):
            token = int(info.token)
            assert not self.tokens or token > self.tokens[-1], "fencing tokens increase"
            self.tokens.append(token)
            model.status, model.token = "active", info.token
            model.lease_until = self.now + LEASE
            model.attempts += 1
            assert info.attempts == model.attempts
            assert info.stalls == model.stalls and info.failures == model.failures

    @precondition(lambda self: bool(self.active()))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        job = data.draw(st.sampled_from(self.active()))
        ok, _ = self.store.complete(job.id, job.token, "1", self.now, RETENTION, self.spec(0))
        # The lease may have expired without anyone reclaiming it: still ours to finish.
        assert ok
        self.old_tokens.append((job.id, job.token))
        job.status, job.token = "completed", ""

    @precondition(lambda self: bool(self.active()))
    @rule(data=st.data(), backoff=st.sampled_from([0, 40, 200]))
    def fail(self, data: st.DataObject, backoff: int) -> None:
        job = data.draw(st.sampled_from(self.active()))
        outcome = "retry" if job.failures + 1 <= job.max_retries else "dead"
        ok, _ = self.store.fail(
            job.id,
            job.token,
            self.now,
            outcome,
            self.now + backoff,
            "E",
            "tb",
            RETENTION,
            self.spec(0),
        )
        assert ok
        self.old_tokens.append((job.id, job.token))
        job.failures += 1
        job.token = ""
        if outcome == "dead":
            job.status = "failed"
        elif backoff > 0:
            job.status, job.run_at = "delayed", self.now + backoff
        else:
            job.status = "waiting"

    @precondition(lambda self: bool(self.active()))
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        job = data.draw(st.sampled_from(self.active()))
        reply = self.store.heartbeat([(job.id, job.token)], self.now, LEASE)
        assert reply.lost == []
        job.lease_until = self.now + LEASE

    @precondition(lambda self: bool(self.active()))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        job = data.draw(st.sampled_from(self.active()))
        assert self.store.release(job.id, job.token, self.now)
        self.old_tokens.append((job.id, job.token))
        job.status, job.token = "waiting", ""

    @precondition(lambda self: bool(self.old_tokens))
    @rule(data=st.data())
    def stale_token_is_rejected(self, data: st.DataObject) -> None:
        job_id, token = data.draw(st.sampled_from(self.old_tokens))
        ok, _ = self.store.complete(job_id, token, "2", self.now, RETENTION, self.spec(0))
        assert not ok
        assert self.store.heartbeat([(job_id, token)], self.now, LEASE).lost == [job_id]

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if not self.jobs:
            return
        job = data.draw(st.sampled_from(sorted(self.jobs.values(), key=lambda j: j.seq)))
        # Stored status may lag the model only for leases that expired without a fetch.
        expected = job.status in ("waiting", "delayed")
        assert self.store.cancel(job.id, self.now, RETENTION.keep_done) is expected
        if expected:
            job.status = "cancelled"

    # -- invariants -------------------------------------------------------------------
    @invariant()
    def statuses_match(self) -> None:
        for job in self.jobs.values():
            info = self.store.get(job.id)
            assert info is not None
            assert info.status.value == job.status, (job, info)
            assert info.failures == job.failures and info.stalls == job.stalls

    @invariant()
    def counts_match(self) -> None:
        stats = self.store.stats(self.now)
        count = {
            s: sum(1 for j in self.jobs.values() if j.status == s)
            for s in ("waiting", "delayed", "active", "failed")
        }
        assert (stats.waiting, stats.delayed, stats.active, stats.failed) == (
            count["waiting"],
            count["delayed"],
            count["active"],
            count["failed"],
        )
        assert stats.parked <= stats.waiting

    @invariant()
    def limits_hold(self) -> None:
        assert sum(1 for j in self.active() if j.task == "c") <= 1
        for t in self.r_starts:
            assert sum(1 for s in self.r_starts if t - WINDOW < s <= t) <= RATE


LeaseMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLeases = LeaseMachine.TestCase
