"""Opt-in: fail readiness as soon as SIGTERM arrives, then hand the signal on."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

__all__ = ["drain_on_signal"]

log = logging.getLogger("erp_professional.health")


def drain_on_signal(
    target: object,
    *,
    signals: Iterable[signal.Signals] = (signal.SIGTERM,),
    delay: float = 0.0,
) -> Callable[[], None]:
    """On each of ``signals``: start draining ``target`` at once (readiness fails), then
    after ``delay`` seconds hand the signal to the previous handler (the server's own
    graceful shutdown, or the default action: exit). A repeated signal during the delay
    is handed on at once.

    ``target`` is a ``Professional`` (its drain hooks run) or a ``HealthRegistry``. Call it
    from the main thread, after the server has installed its own handlers (for uvicorn:
    from a start-up hook). Returns a function that restores the previous handlers.
    """
    if not (delay >= 0):
        raise ValueError("delay must be >= 0 seconds")
    begin = getattr(target, "begin_shutdown", None) or getattr(target, "begin_drain", None)
    if not callable(begin):
        raise TypeError(f"{target!r} has neither begin_shutdown() nor begin_drain()")
    previous: dict[signal.Signals, object] = {}
    pending: set[signal.Signals] = set()
    due: set[signal.Signals] = set()
    passed: set[signal.Signals] = set()

    def restore() -> None:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is on_signal:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)  # type: ignore[arg-type]

    def pass_on(sig: signal.Signals, frame: FrameType | None) -> None:
        passed.add(sig)
        handler = previous.get(sig)
        if callable(handler):
            handler(sig, frame)
        elif handler is not signal.SIG_IGN:
            # The default action (for SIGTERM: exit), as if we had never been installed.
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    def wake(sig: signal.Signals) -> None:
        # Runs in the timer thread: only the main thread may handle signals, so re-send the
        # signal and let on_signal pass it on there.
        due.add(sig)
        os.kill(os.getpid(), sig)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if sig in due or sig in passed:
            due.discard(sig)
            pass_on(sig, frame)
            return
        log.info("%s received: draining, readiness now fails", sig.name)
        begin()
        if delay > 0 and sig not in pending:
            pending.add(sig)
            timer = threading.Timer(delay, wake, args=(sig,))
            timer.daemon = True
            timer.start()
        else:
            pass_on(sig, frame)

    for signum in signals:
        previous[signum] = signal.signal(signum, on_signal)
    return restore
