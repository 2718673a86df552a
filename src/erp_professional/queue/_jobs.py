"""Job handles returned by enqueue: a snapshot plus refresh, wait, cancel and abort."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ._errors import JobFailed, JobNotFound, JobTimeout
from ._model import JSON, JobInfo, JobStatus

if TYPE_CHECKING:
    from ._queue import AsyncQueue, Queue

__all__ = ["AsyncJob", "Job", "JobRequest"]


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job of a bulk enqueue (``Queue.enqueue_many``)."""

    task: str
    kwargs: dict[str, JSON] | None = None
    delay: float | None = None
    run_at: datetime | None = None
    priority: int | None = None
    job_id: str | None = None
    retries: int | None = None
    timeout: float | None = None


class _Handle:
    def __init__(self, job_id: str, info: JobInfo | Callable[[], JobInfo] | None) -> None:
        self.id = job_id
        self._info: JobInfo | None = None
        self._lazy: Callable[[], JobInfo] | None = None
        if callable(info):
            self._lazy = info
        else:
            self._info = info

    @property
    def info(self) -> JobInfo:
        """The latest snapshot (``refresh()`` reads a new one)."""
        if self._lazy is not None:
            self._info, self._lazy = self._lazy(), None
        if self._info is None:
            raise JobNotFound(f"job {self.id} does not exist or its result has expired")
        return self._info

    @property
    def status(self) -> JobStatus:
        return self.info.status

    @property
    def result(self) -> JSON:
        return self.info.result

    @property
    def error(self) -> str | None:
        return self.info.error

    @property
    def attempts(self) -> int:
        return self.info.attempts

    @property
    def progress(self) -> JSON:
        return self.info.progress

    def _outcome(self) -> JSON:
        info = self.info
        if info.status is JobStatus.COMPLETED:
            return info.result
        raise JobFailed(self.id, info.status.value, info.error)

    def __repr__(self) -> str:
        status = self.info.status.value if self._info or self._lazy else "unknown"
        return f"<{type(self).__name__} {self.id} {status}>"


def _next_poll(poll: float) -> float:
    return min(0.2, poll * 1.5)


class Job(_Handle):
    """Handle on a job of a :class:`Queue`."""

    def __init__(
        self, queue: Queue, job_id: str, info: JobInfo | Callable[[], JobInfo] | None
    ) -> None:
        super().__init__(job_id, info)
        self._queue = queue

    def refresh(self) -> Job:
        """Read the job's current state from the backend."""
        self._info, self._lazy = self._queue.backend.get(self.id), None
        self.info  # noqa: B018 - raises JobNotFound when it is gone
        return self

    def wait(self, timeout: float | None = None) -> JSON:
        """Block until the job finishes; its result, or ``JobFailed``/``JobTimeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        while not self.refresh().status.finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(f"job {self.id} did not finish within {timeout} s")
            time.sleep(poll)
            poll = _next_poll(poll)
        return self._outcome()

    def cancel(self) -> bool:
        """Cancel a job that has not started; False if it is running or finished."""
        return self._queue.cancel(self.id)

    def abort(self) -> bool:
        """Cancel a waiting job or ask a running one to stop (cooperatively)."""
        return self._queue.abort(self.id)


class AsyncJob(_Handle):
    """Handle on a job of an :class:`AsyncQueue`."""

    def __init__(
        self, queue: AsyncQueue, job_id: str, info: JobInfo | Callable[[], JobInfo] | None
    ) -> None:
        super().__init__(job_id, info)
        self._queue = queue

    async def refresh(self) -> AsyncJob:
        """Read the job's current state from the backend."""
        self._info, self._lazy = await self._queue.backend().get(self.id), None
        self.info  # noqa: B018 - raises JobNotFound when it is gone
        return self

    async def wait(self, timeout: float | None = None) -> JSON:  # noqa: ASYNC109
        """Wait until the job finishes; its result, or ``JobFailed``/``JobTimeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        while not (await self.refresh()).status.finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(f"job {self.id} did not finish within {timeout} s")
            await asyncio.sleep(poll)
            poll = _next_poll(poll)
        return self._outcome()

    async def cancel(self) -> bool:
        """Cancel a job that has not started; False if it is running or finished."""
        return await self._queue.cancel(self.id)

    async def abort(self) -> bool:
        """Cancel a waiting job or ask a running one to stop (cooperatively)."""
        return await self._queue.abort(self.id)
