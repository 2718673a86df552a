"""Errors raised by the queue capability."""

from __future__ import annotations

__all__ = [
    "InvalidJobArguments",
    "JobAborted",
    "JobFailed",
    "JobNotFound",
    "JobTimeout",
    "QueueError",
    "UnknownTask",
]


class QueueError(Exception):
    """Base class of every queue error."""


class InvalidJobArguments(QueueError, ValueError):
    """The keyword arguments of a job do not match its task; nothing was stored."""

    def __init__(self, task: str, problems: list[str]) -> None:
        self.task = task
        self.problems = problems
        super().__init__(f"invalid arguments for task {task!r}: " + "; ".join(problems))


class UnknownTask(QueueError, LookupError):
    """A job names a task that no function was registered for."""


class JobNotFound(QueueError, LookupError):
    """No job with this id exists (or its result has expired)."""


class JobTimeout(QueueError, TimeoutError):
    """A job ran longer than its timeout, or a wait for its result timed out."""


class JobFailed(QueueError):
    """Raised by ``Job.wait()`` when the job ended failed, cancelled or aborted."""

    def __init__(self, job_id: str, status: str, error: str | None) -> None:
        self.job_id = job_id
        self.status = status
        self.error = error
        super().__init__(f"job {job_id} ended {status}" + (f": {error}" if error else ""))


class JobAborted(QueueError):
    """Raised inside a running job (at its next check) after someone aborted it."""
