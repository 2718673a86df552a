"""Opt-in: fail readiness as soon as SIGTERM arrives, then hand the signal on."""

from __future__ import annotations

import logging
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
    after ``delay`` seconds put the previous handler back and deliver the signal to it
    (the server's own graceful shutdown, or the default: exit).

    ``target`` is a ``Professional`` (its drain hooks run) or a ``HealthRegistry``. Call it
    from the main thread, after the server has installed its own handlers (for uvicorn:
    from a start-up hook). Returns a function that restores the previous handlers.
    """
    if not (delay >= 0):
        raise ValueError("delay must be >= 0 seconds")
    begin = getattr(target, "begin_shutdown", None) or getattr(target, "begin_drain", None)
    if not callable(begin):
        raise TypeError(f"{target!r} has neither begin_shutdown() nor begin_drain()")
    previous: dict[signal.Signals, signal._HANDLER] = {}

    def restore() -> None:
        for signum, handler in previous.items():
            if signal.getsignal(signum) is on_signal:
                signal.signal(signum, handler)

    def pass_on(signum: signal.Signals) -> None:
        handler = previous.get(signum, signal.SIG_DFL)
        if signal.getsignal(signum) is on_signal:
            signal.signal(signum, handler)
        if handler is not signal.SIG_IGN:
            signal.raise_signal(signum)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        log.info("%s received: draining, readiness now fails", sig.name)
        begin()
        if delay > 0:
            timer = threading.Timer(delay, pass_on, args=(sig,))
            timer.daemon = True
            timer.start()
        else:
            pass_on(sig)

    for signum in signals:
        previous[signum] = signal.signal(signum, on_signal)
    return restore
