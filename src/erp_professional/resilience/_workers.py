"""Daemon worker threads for sync timeouts.

A call that overruns its timeout keeps its thread until it returns on its own. The threads
are daemons, so such a call never keeps the interpreter from exiting (a
``ThreadPoolExecutor`` would join it at exit), and a new thread is started whenever none is
idle, so overrunning calls never starve the others. Idle threads exit after a minute.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["submit"]

T = TypeVar("T")
IDLE_SECONDS = 60.0

_Task = tuple["concurrent.futures.Future[object]", Callable[[], object]]


class _Workers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._idle = 0
        self._started = 0

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # an idle worker will take this task
            else:
                self._started += 1
                threading.Thread(
                    target=self._work,
                    name=f"erp-resilience-timeout-{self._started}",
                    daemon=True,
                ).start()
            self._tasks.put((future, fn))  # type: ignore[arg-type]
        return future

    def _work(self) -> None:
        while True:
            try:
                future, fn = self._tasks.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0 and self._tasks.empty():
                        self._idle -= 1
                        return
                continue
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:  # handed to the waiting caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()


def submit(fn: Callable[[], T]) -> concurrent.futures.Future[T]:
    """Run ``fn`` on a daemon worker thread."""
    return _WORKERS.submit(fn)
