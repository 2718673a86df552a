"""What Queue and AsyncQueue share: configuration, task registry, building new jobs."""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from erp_professional.config import QueueConfig
from erp_professional.connections import check_scheme

from ._backend import Retention
from ._cron import Misfire, Schedule
from ._errors import InvalidJobArguments
from ._limits import QUEUE_LIMIT, Limits
from ._memory import MemoryBackend
from ._model import JSON, PRIORITY_LIMIT, Clock, NewJob, json_text
from ._task import TaskOptions, TaskSpec, dedup_key_for
from ._telemetry import current_traceparent

__all__ = ["QueueCore", "memory_store"]

_STORES: dict[tuple[str, str], MemoryBackend] = {}
_STORES_LOCK = threading.Lock()


def memory_store(url: str, name: str) -> MemoryBackend:
    """The process-wide memory store of queue ``name`` at ``url``."""
    with _STORES_LOCK:
        store = _STORES.get((url, name))
        if store is None:
            store = _STORES[(url, name)] = MemoryBackend()
        return store


_NO_OPTIONS = TaskOptions()
_EMPTY: Mapping[str, object] = {}
# A version 4 UUID from 16 random bytes: clear the version and variant bits, then set them.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_job_id() -> str:
    """A random job id: the 32 hex digits of a version 4 UUID (as ``uuid4().hex`` gives,
    for a third of its cost)."""
    return ((int.from_bytes(os.urandom(16)) & _UUID4_CLEAR) | _UUID4_SET).to_bytes(16).hex()


def _seconds(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


class QueueCore:
    """Sans-I/O part of a queue: settings, tasks and the translation to ``NewJob``."""

    def __init__(
        self,
        url: str | None,
        name: str | None,
        config: QueueConfig | None,
        clock: Clock | None,
        seed: int | None,
        rate_limit: str | None = None,
        concurrency_limit: int | None = None,
    ) -> None:
        base = config or QueueConfig()
        updates: dict[str, Any] = {}
        if url is not None:
            updates["url"] = url
        if name is not None:
            updates["name"] = name
        if rate_limit is not None:
            updates["rate_limit"] = rate_limit
        if concurrency_limit is not None:
            updates["concurrency_limit"] = concurrency_limit
        self.config = base.model_copy(update=updates) if updates else base
        QueueConfig.model_validate(self.config.model_dump())
        self.limits = Limits.of(self.config.rate_limit, self.config.concurrency_limit)
        self.url = self.config.url
        self.name = self.config.name
        self.kind = check_scheme(self.url, ("memory", "redis"), "the queue").kind
        self.clock: Clock = clock or time.time
        self.custom_clock = clock is not None
        self.rng = random.Random(seed)
        self.tasks: dict[str, TaskSpec[..., Any]] = {}

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def retention(self) -> Retention:
        cfg = self.config
        return Retention(cfg.keep_completed, cfg.keep_failed, int(cfg.result_ttl * 1000))

    def limit_definitions(self) -> dict[str, str]:
        """What a worker stores: the limits of the queue and of every task registered here,
        an empty text for each of them that has none (which removes a stored limit)."""
        definitions = {QUEUE_LIMIT: self.limits.to_json() if self.limits else ""}
        for task, spec in self.tasks.items():
            limits = spec.options.limits
            definitions[task] = limits.to_json() if limits else ""
        return definitions

    def register(
        self, fn: Callable[..., Any], name: str | None, options: TaskOptions
    ) -> TaskSpec[..., Any]:
        task_name = name or f"{fn.__module__}.{fn.__qualname__}"
        if task_name in self.tasks and self.tasks[task_name].fn is not fn:
            raise ValueError(f"task {task_name!r} is already registered on queue {self.name!r}")
        if not -PRIORITY_LIMIT <= options.priority <= PRIORITY_LIMIT:
            raise ValueError(f"priority must be within ±{PRIORITY_LIMIT}")
        spec: TaskSpec[..., Any] = TaskSpec(fn, task_name, options)
        self.tasks[task_name] = spec
        return spec

    def new_job(
        self,
        task: str,
        kwargs: Mapping[str, object] | None,
        *,
        delay: float | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        job_id: str | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        dedup_key: str | None = None,
        dedup_ttl: float | None = None,
        now_ms: int | None = None,
        traceparent: str | None = None,
    ) -> NewJob:
        """Validate everything about one job; raise before anything is stored."""
        # One call per enqueued job: the common case (no options) takes the short branches.
        if not isinstance(task, str) or not task:
            raise InvalidJobArguments(str(task), ["the task name must be a non-empty string"])
        spec = self.tasks.get(task)
        data, text = self._arguments(task, spec, _EMPTY if kwargs is None else kwargs)
        options = _NO_OPTIONS if spec is None else spec.options
        now = int(self.clock() * 1000) if now_ms is None else now_ms
        when = now
        if delay is not None or run_at is not None:
            if delay is not None and run_at is not None:
                raise ValueError("give delay or run_at, not both")
            wait = _seconds("delay", delay)
            if wait is not None:
                when = now + int(wait * 1000)
            if run_at is not None:
                if run_at.tzinfo is None:
                    raise ValueError("run_at must be timezone-aware")
                when = int(run_at.timestamp() * 1000)
        prio = options.priority if priority is None else priority
        if type(prio) is not int and (isinstance(prio, bool) or not isinstance(prio, int)):
            raise ValueError(f"priority must be an integer within ±{PRIORITY_LIMIT}")
        if not -PRIORITY_LIMIT <= prio <= PRIORITY_LIMIT:
            raise ValueError(f"priority must be an integer within ±{PRIORITY_LIMIT}")
        tries = options.retries if retries is None else retries
        config = self.config
        if tries is None:
            tries = config.retries
        if type(tries) is not int and (isinstance(tries, bool) or not isinstance(tries, int)):
            raise ValueError(f"retries must be a non-negative integer, got {tries!r}")
        if tries < 0:
            raise ValueError(f"retries must be a non-negative integer, got {tries!r}")
        limit = _seconds("timeout", timeout if timeout is not None else options.timeout)
        if limit is None:
            limit = config.timeout
        backoff = options.backoff if options.backoff is not None else config.backoff
        if job_id is None:
            job_id = new_job_id()
        elif not isinstance(job_id, str) or not job_id or "\n" in job_id:
            raise ValueError(f"invalid job id {job_id!r}")
        dedup = dedup_key or ""
        ttl = None if dedup_ttl is None else _seconds("dedup_ttl", dedup_ttl)
        if not dedup and options.unique is not False:
            dedup = dedup_key_for(task, data)
            if options.unique is not True:
                ttl = float(options.unique)
        return NewJob(
            job_id,
            task,
            data,
            when,
            prio,
            tries,
            int(backoff * 1000),
            int(limit * 1000) if limit else 0,
            dedup,
            int(ttl * 1000) if ttl else 0,
            current_traceparent() if traceparent is None else traceparent,
            text,
        )

    def _arguments(
        self, task: str, spec: TaskSpec[..., Any] | None, kwargs: Mapping[str, object]
    ) -> tuple[dict[str, JSON], str]:
        """Validated arguments and their JSON text (encoded once, here)."""
        if spec is not None:
            data = spec.validate(kwargs)
        else:
            if type(kwargs) is not dict and not isinstance(kwargs, Mapping):
                raise InvalidJobArguments(task, ["arguments must be a mapping with string keys"])
            for key in kwargs:
                if type(key) is not str and not isinstance(key, str):
                    raise InvalidJobArguments(
                        task, ["arguments must be a mapping with string keys"]
                    )
            data = dict(kwargs)  # type: ignore[arg-type]
        try:
            text = json_text(data)
        except (TypeError, ValueError) as exc:
            raise InvalidJobArguments(task, [f"not JSON-serialisable: {exc}"]) from None
        return data, text

    def make_schedule(
        self,
        cron: str,
        task: str,
        kwargs: Mapping[str, object] | None,
        tz: str,
        sched_id: str | None,
        misfire: Misfire | str,
        grace: float,
        priority: int,
    ) -> Schedule:
        data, _ = self._arguments(task, self.tasks.get(task), {} if kwargs is None else kwargs)
        return Schedule(
            id=sched_id or task,
            cron=cron,
            task=task,
            kwargs=data,
            tz=tz,
            misfire=Misfire(misfire),
            grace=grace,
            priority=priority,
        )

    def schedule_jobs(self, schedule: Schedule, fires: list[int]) -> list[NewJob]:
        return [
            self.new_job(
                schedule.task,
                schedule.kwargs,
                run_at=datetime.fromtimestamp(fire / 1000, tz=UTC),
                priority=schedule.priority,
                job_id=f"cron:{schedule.id}:{fire}",
            )
            for fire in fires
        ]
