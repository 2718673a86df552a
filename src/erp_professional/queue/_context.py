"""The running job's context: id, attempt, progress updates and abort checks."""

from __future__ import annotations

import asyncio
import json
import threading
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from ._errors import JobAborted
from ._model import JSON, JobInfo

if TYPE_CHECKING:
    from ._backend import AsyncBackend

__all__ = ["JobContext", "current_job"]

_CURRENT: ContextVar[JobContext | None] = ContextVar("erp_professional_queue_job", default=None)


class JobContext:
    """What a task can learn and say about the job it is running."""

    def __init__(
        self, info: JobInfo, backend: AsyncBackend, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.info = info
        self._backend = backend
        self._loop = loop
        self._aborted = threading.Event()
        self.lost = False

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def attempt(self) -> int:
        """1 on the first run, 2 on the next (retries and reclaimed runs both count)."""
        return self.info.attempts

    @property
    def aborted(self) -> bool:
        """True once someone asked this job to stop."""
        return self._aborted.is_set()

    def check_aborted(self) -> None:
        """Raise ``JobAborted`` if the job was aborted (call it between units of work)."""
        if self._aborted.is_set():
            raise JobAborted(f"job {self.id} was aborted")

    def mark_aborted(self) -> None:
        self._aborted.set()

    async def aset_progress(self, value: JSON) -> bool:
        """Store a JSON progress value on the job; False if the lease was lost."""
        text = json.dumps(value, allow_nan=False)
        return await self._backend.progress(self.id, self.info.token, text)

    def set_progress(self, value: JSON) -> bool:
        """Store a progress value from a sync task (it runs in a worker thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("in an async task use `await current_job().aset_progress(...)`")
        future = asyncio.run_coroutine_threadsafe(self.aset_progress(value), self._loop)
        return future.result(timeout=30)


def current_job() -> JobContext:
    """The context of the job running in this task or thread; LookupError outside one."""
    context = _CURRENT.get()
    if context is None:
        raise LookupError("current_job() is only available inside a running job")
    return context


def set_current(context: JobContext | None) -> Token[JobContext | None]:
    return _CURRENT.set(context)


def reset_current(token: Token[JobContext | None]) -> None:
    _CURRENT.reset(token)
