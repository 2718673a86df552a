"""Carry the request's context (request id, trace ids, user) into threads and executors.

``asyncio.to_thread`` copies context variables, but ``threading.Thread`` and
``loop.run_in_executor`` / ``ThreadPoolExecutor.submit`` do not. Once installed:

* ``ThreadPoolExecutor.submit`` runs each callable in a copy of the submitter's context
  (as ``asyncio.to_thread`` does), so ``run_in_executor`` work keeps the request's ids;
* a ``threading.Thread`` started while a request is being handled runs in a copy of
  that request's context. Threads started outside requests are untouched.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..web import current_exchange

__all__ = ["install", "installed", "uninstall"]

_original_start = threading.Thread.start
_original_submit = ThreadPoolExecutor.submit
_installed = False


def _start(self: threading.Thread) -> None:
    if current_exchange() is not None:
        ctx = contextvars.copy_context()
        run = self.run
        self.run = lambda: ctx.run(run)  # type: ignore[method-assign]
    _original_start(self)


def _submit(
    self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Future[Any]:
    ctx = contextvars.copy_context()
    return _original_submit(self, ctx.run, fn, *args, **kwargs)


def install() -> None:
    """Start carrying context into threads and thread pools (idempotent)."""
    global _installed
    if _installed:
        return
    threading.Thread.start = _start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]
    _installed = True


def uninstall() -> None:
    """Restore ``threading.Thread.start`` and ``ThreadPoolExecutor.submit``."""
    global _installed
    if not _installed:
        return
    threading.Thread.start = _original_start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = _original_submit  # type: ignore[method-assign]
    _installed = False


def installed() -> bool:
    return _installed
