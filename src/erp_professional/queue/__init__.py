"""Job queue: typed tasks, priorities, delays, cron, retries, dead letters, leases.

``memory://`` runs everything in process; ``redis://`` shares the queue between processes
and machines with at-least-once delivery (leases with fencing tokens, automatic reclaim).
"""

from __future__ import annotations

from ._context import JobContext, current_job
from ._cron import Misfire, Schedule
from ._errors import (
    InvalidJobArguments,
    JobAborted,
    JobFailed,
    JobNotFound,
    JobTimeout,
    QueueError,
    UnknownTask,
)
from ._health import BacklogHealth
from ._jobs import AsyncJob, Job, JobRequest
from ._limits import Limits, QueueLimits, Rate, parse_rate_limit
from ._memory import MemoryBackend
from ._model import JobInfo, JobStatus, QueueStats
from ._queue import AsyncQueue, AsyncTask, Queue, ScheduleInfo, Task
from ._worker import Worker

__all__ = [
    "AsyncJob",
    "AsyncQueue",
    "AsyncTask",
    "BacklogHealth",
    "InvalidJobArguments",
    "Job",
    "JobAborted",
    "JobContext",
    "JobFailed",
    "JobInfo",
    "JobNotFound",
    "JobRequest",
    "JobStatus",
    "JobTimeout",
    "Limits",
    "MemoryBackend",
    "Misfire",
    "Queue",
    "QueueError",
    "QueueLimits",
    "QueueStats",
    "Rate",
    "Schedule",
    "ScheduleInfo",
    "Task",
    "UnknownTask",
    "Worker",
    "current_job",
    "parse_rate_limit",
]
