"""Keeping a snapshot in step with its store: start-up states, polling, the listener thread.

No thread starts in a constructor. A store that pushes changes (Redis) gets its listener at
the first evaluation or ``start()`` in each process; after ``fork()`` the child drops the
parent's (dead) listener and starts its own on first use.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from ._engine import Snapshot, build_snapshot
from ._hooks import FlagChange, Hooks
from ._model import Flag, FlagDefinitionError, Segment
from ._stores import FileStore, FlagStore, Loaded, load_file
from ._types import State

if TYPE_CHECKING:
    from erp_professional.health import CheckResult

__all__ = ["StoreSync"]

log = logging.getLogger("erp_professional.flags")
_INSTANCES: weakref.WeakSet[StoreSync] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for instance in list(_INSTANCES):
        instance._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class StoreSync:
    """The store-facing half of :class:`FeatureFlags`."""

    _store: FlagStore
    _snapshot: Snapshot
    _state: State
    _clock: Callable[[], datetime]
    _rng: random.Random
    _changes: Hooks[FlagChange]
    static_context: Mapping[str, str]
    poll_interval: float
    refresh_interval: float
    startup_timeout: float

    def _init_sync(self, store: FlagStore, bootstrap: str | os.PathLike[str] | None) -> None:
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self._seq = itertools.count(1)
        self._applied_seq = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._not_ready_logged = False
        self.last_error: Exception | None = None
        self._snapshot = self._build({}, {}, 0, ready=False)
        self._state = State.NOT_READY
        if bootstrap is not None:
            boot_flags, boot_segments = load_file(bootstrap)
            self._snapshot = self._build(boot_flags, boot_segments, 0, ready=True)
            self._state = State.STALE
        self._next_tick = 0.0
        self._needs_tick = store.watches or isinstance(store, FileStore)
        if not store.watches:
            self._reload(raise_errors=bootstrap is None)
        _INSTANCES.add(self)

    @property
    def state(self) -> State:
        """NOT_READY, READY, STALE (serving possibly old values) or ERROR."""
        return self._state

    @property
    def store(self) -> FlagStore:
        return self._store

    @property
    def version(self) -> int:
        """The store version of the snapshot being served."""
        return self._snapshot.version

    def start(self, timeout: float | None = None) -> State:
        """Load from the store (starting its listener) and wait up to ``timeout`` seconds.

        Returns the state: READY, or ERROR (nothing to serve; defaults are served) or STALE
        (bootstrap values are served) when the store did not answer in time. Loading goes on
        in the background.
        """
        wait = self.startup_timeout if timeout is None else timeout
        if self._store.watches:
            self._ensure_listener()
            if not self._ready.wait(wait):
                with self._lock:
                    if self._state is not State.READY:
                        self._state = State.STALE if self._snapshot.ready else State.ERROR
                        log.warning(
                            "flags store did not answer within %.1fs; serving %s",
                            wait,
                            "bootstrap values" if self._snapshot.ready else "defaults",
                        )
        else:
            self._reload(raise_errors=False)
        return self._state

    def health_check(self) -> CheckResult:
        """A health check (``HealthRegistry.register("flags", flags.health_check)``):
        pass when READY, warn when STALE (old values are served), fail otherwise."""
        from erp_professional.health import CheckResult

        state = self._state
        version = self._snapshot.version
        if state is State.READY:
            return CheckResult.ok(version, "version")
        detail = f"flags {state.value}" + (f": {self.last_error}" if self.last_error else "")
        if state is State.STALE:
            return CheckResult.warn(detail, version, "version")
        return CheckResult.fail(detail, version, "version")

    def wait_ready(self, timeout: float) -> bool:
        """Block until the first load from the store succeeded (or ``timeout``)."""
        if self._store.watches:
            self._ensure_listener()
        return self._ready.wait(timeout)

    def refresh(self) -> State:
        """Reload from the store now."""
        self._reload(raise_errors=False)
        return self._state

    def close(self) -> None:
        """Stop the listener thread of this process, if any."""
        self._stop.set()
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout=5)
        self._listener = None

    def _build(
        self,
        flags: Mapping[str, Flag],
        segments: Mapping[int, Segment],
        version: int,
        *,
        ready: bool,
    ) -> Snapshot:
        return build_snapshot(
            flags,
            segments,
            clock=self._clock,
            rng=self._rng,
            version=version,
            ready=ready,
            static=self.static_context,
        )

    def _log_not_ready(self, name: str) -> None:
        if not self._not_ready_logged:
            self._not_ready_logged = True
            log.warning(
                "flags not ready (state %s): serving defaults, first for %r",
                self._state.value,
                name,
            )

    def _tick(self) -> None:
        if not self._tick_lock.acquire(blocking=False):
            return
        try:
            self._next_tick = time.monotonic() + self.poll_interval
            if self._store.watches:
                self._ensure_listener()
                self._needs_tick = False
            elif self._store.poll():
                self._reload(raise_errors=False)
        finally:
            self._tick_lock.release()

    def _ensure_listener(self) -> None:
        with self._lock:
            listener = self._listener
            if listener is not None and listener.is_alive():
                return
            self._stop = threading.Event()
            listener = threading.Thread(
                target=self._listen, name="erp-pro-flags-listener", daemon=True
            )
            self._listener = listener
            listener.start()

    def _listen(self) -> None:
        backoff = 0.05
        stop = self._stop
        while not stop.is_set():
            try:
                self._store.watch(self._on_notify, stop, self.refresh_interval)
                backoff = 0.05
            except Exception as err:
                self._unhealthy(err)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _on_notify(self) -> None:
        self._reload(raise_errors=False, connection_errors=True)

    def _unhealthy(self, err: Exception) -> None:
        self.last_error = err
        with self._lock:
            previous = self._state
            self._state = State.STALE if self._snapshot.ready else State.ERROR
        if previous is not self._state:
            log.warning("flags store failed (%s): state %s", err, self._state.value)

    def _reload(self, *, raise_errors: bool, connection_errors: bool = False) -> None:
        seq = next(self._seq)
        try:
            loaded: Loaded = self._store.load()
        except Exception as err:
            self._load_failed(err, raise_errors=raise_errors, connection_errors=connection_errors)
            return
        self._apply(loaded, seq)

    def _load_failed(
        self, err: Exception, *, raise_errors: bool, connection_errors: bool = False
    ) -> None:
        """Keep the current snapshot; re-raise when the caller asked for it."""
        if isinstance(err, FlagDefinitionError):
            log.error("flags not reloaded, keeping the previous ones: %s", err)
            self._unhealthy(err)
            if raise_errors:
                raise err
            return
        if raise_errors or connection_errors:
            if not connection_errors:
                self._unhealthy(err)
            raise err
        self._unhealthy(err)

    def _apply(self, loaded: Loaded, seq: int) -> None:
        """Swap in a snapshot of ``loaded`` unless a newer load (higher ``seq``) won."""
        with self._lock:
            if seq < self._applied_seq:
                return
            self._applied_seq = seq
            current = self._snapshot
            if current.ready and loaded.version == current.version and self._state is State.READY:
                return
            snapshot = self._build(loaded.flags, loaded.segments, loaded.version, ready=True)
            self._snapshot = snapshot
            self._state = State.READY
            self._not_ready_logged = False
            self.last_error = None
        self._ready.set()
        changed = frozenset(
            name
            for name in set(current.definitions) | set(snapshot.definitions)
            if current.definitions.get(name) != snapshot.definitions.get(name)
        )
        if changed:
            self._changes.emit(FlagChange(changed, snapshot.version, type(self._store).__name__))

    def _after_fork(self) -> None:
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self._listener = None
        self._stop = threading.Event()
        if self._store.watches:
            self._needs_tick = True
            self._next_tick = 0.0
