"""Projection runner: feeds events to a handler and keeps its checkpoint.

With ``transactional=True`` (the default) the handler receives the store's open
connection (``sqlite3.Connection`` or ``psycopg.Connection``; ``None`` for memory) and
its writes commit in the same transaction as the checkpoint: the effect is exactly once
when the projection lives in the store's database. With ``transactional=False`` the
handler runs first and the checkpoint is stored after it: at-least-once delivery, so the
handler must be idempotent.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from opentelemetry import metrics

from ._core import check_name, check_types
from ._store import EventStore
from ._types import RecordedEvent

Handler = Callable[[Sequence[RecordedEvent], object], None]
Reset = Callable[[object], None]

log = logging.getLogger("erp_professional.events")
_RUNNERS: weakref.WeakSet[ProjectionRunner] = weakref.WeakSet()
# Async runners cannot be queried from the (synchronous) metric callback: they report
# the lag they measured last.
ASYNC_LAGS: weakref.WeakKeyDictionary[object, tuple[str, int]] = weakref.WeakKeyDictionary()


def _observe_lag(options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
    for runner in list(_RUNNERS):
        try:
            lag = runner.lag()
        except Exception as exc:  # a broken backend must not break metric collection
            log.warning("projection %s: lag unavailable: %s", runner.name, exc)
            continue
        yield metrics.Observation(lag, {"projection": runner.name})
    for name, lag in list(ASYNC_LAGS.values()):
        yield metrics.Observation(lag, {"projection": name})


_meter = metrics.get_meter("erp_professional.events")
_meter.create_observable_gauge(
    "erp_professional.events.projection.lag",
    callbacks=[_observe_lag],
    unit="{event}",
    description="Events stored but not yet processed by a projection",
)
processed = _meter.create_counter(
    "erp_professional.events.projection.processed", unit="{event}", description="Events projected"
)


@dataclass(frozen=True, slots=True)
class ProjectionHealth:
    """Health of a projection: its lag in events, and whether this runner is the active one."""

    name: str
    lag: int
    active: bool
    healthy: bool


class ProjectionRunner:
    """Runs one named projection over an :class:`EventStore`.

    ``run()`` follows the store until ``stop`` is set; on PostgreSQL only the runner that
    holds the projection's advisory lock is active and the others stand by (on SQLite a
    file lock beside the database plays that role). ``run_once()`` processes what is
    there and returns; ``rebuild()`` resets and replays from position 0.
    """

    def __init__(
        self,
        store: EventStore,
        name: str,
        handler: Handler,
        *,
        reset: Reset | None = None,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        transactional: bool = True,
        batch_size: int | None = None,
        poll_interval: float | None = None,
        max_lag: int = 1000,
    ) -> None:
        self.store = store
        self.name = check_name("projection name", name)
        self._handler = handler
        self._reset = reset
        self._types = check_types(types)
        self._prefix = stream_prefix
        self._transactional = transactional
        self._batch = batch_size or store.config.batch_size
        self._poll = poll_interval or store.config.poll_interval
        self._max_lag = max_lag
        self._leader = store.backend.leader(name)
        self.active = False
        _RUNNERS.add(self)

    @property
    def checkpoint(self) -> int:
        """Position of the last event this projection has processed."""
        return self.store.backend.checkpoint(self.name)

    def lag(self) -> int:
        """How many positions the projection is behind the store."""
        return max(0, self.store.backend.last_position() - self.checkpoint)

    def health(self) -> ProjectionHealth:
        """A health check: healthy while the lag is at most ``max_lag``."""
        lag = self.lag()
        return ProjectionHealth(self.name, lag, self.active, lag <= self._max_lag)

    def _step(self) -> int:
        backend = self.store.backend
        after = backend.checkpoint(self.name)
        events, _ = backend.read_all(after, self._batch, self._types, self._prefix, self._poll)
        if not events:
            return 0
        if self._transactional:
            backend.handle(self.name, events, self._handler)
        else:
            self._handler(events, None)
            backend.handle(self.name, events, nothing)
        processed.add(len(events), {"projection": self.name})
        return len(events)

    def run_once(self) -> int:
        """Process every event available now; returns how many were processed."""
        total = 0
        while True:
            done = self._step()
            total += done
            if done < self._batch:
                return total

    def rebuild(self) -> int:
        """Reset the projection (its ``reset`` callback and checkpoint) and replay all."""
        acquired = not self.active
        if acquired and not self._leader.try_acquire():
            raise RuntimeError(f"projection {self.name!r} is running elsewhere; stop it first")
        try:
            if self._reset is not None:
                self.store.backend.handle(self.name, (), lambda _e, tx: self._call_reset(tx))
            self.store.backend.reset_checkpoint(self.name)
            return self.run_once()
        finally:
            if acquired:
                self._leader.release()

    def _call_reset(self, tx: object) -> None:
        assert self._reset is not None
        self._reset(tx)

    def run(self, stop: threading.Event) -> None:
        """Follow the store until ``stop`` is set (standing by while another runner leads)."""
        waiter = self.store.backend.waiter()
        try:
            while not stop.is_set():
                if not self._leader.try_acquire():
                    self.active = False
                    stop.wait(self._poll)
                    continue
                self.active = True
                waiter.mark()
                if self._step() < self._batch:
                    waiter.wait(self._poll)
        finally:
            self.active = False
            self._leader.release()
            waiter.close()


def nothing(events: Sequence[RecordedEvent], tx: object) -> None:
    return None
