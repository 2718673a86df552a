"""Running one check: on the event loop or in its own thread, its outcome captured."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
from collections.abc import Awaitable

from ._check import CheckFunction

__all__ = ["Outcome", "await_thread", "call_in_thread", "outcome"]

Outcome = tuple[object, Exception | None]
"""What a check run gave: its return value, or the exception it raised."""


async def outcome(function: CheckFunction) -> Outcome:
    """Run an async check; its own exceptions are part of the outcome, so only the
    registry's timeout is ever reported as ``timed out``."""
    try:
        value = function()
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        return None, exc
    return value, None


def call_in_thread(function: CheckFunction, future: cf.Future[Outcome]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        value = function()
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
    except Exception as exc:
        future.set_result((None, exc))
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result((value, None))


async def _awaited(value: Awaitable[object]) -> object:
    return await value


async def await_thread(future: cf.Future[Outcome], limit: float) -> Outcome:
    """Wait for a thread's future from the loop without tying the thread to the loop."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Outcome] = loop.create_future()

    def settle(done: cf.Future[Outcome]) -> None:
        if waiter.done():
            return
        exc = done.exception()
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(done.result())

    def on_done(done: cf.Future[Outcome]) -> None:
        if loop.is_closed():
            return  # the probe that waited has finished: its loop is gone
        try:
            loop.call_soon_threadsafe(settle, done)
        except RuntimeError:
            # The loop closed between the check above and the call: nobody waits any more.
            return

    future.add_done_callback(on_done)
    return await asyncio.wait_for(waiter, limit)
