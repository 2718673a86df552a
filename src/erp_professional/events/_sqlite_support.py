"""SQLite schema and the cross-process projection leader lock."""

from __future__ import annotations

import os

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

HAVE_FLOCK = fcntl is not None


def schema(p: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {p}events (
    position INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    correlation_id TEXT,
    causation_id TEXT,
    actor TEXT,
    tenant TEXT,
    schema_version INTEGER NOT NULL,
    headers TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS {p}events_correlation ON {p}events (correlation_id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS {p}events_actor ON {p}events (actor) WHERE actor IS NOT NULL;
CREATE TABLE IF NOT EXISTS {p}snapshots (
    stream_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}checkpoints (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""


class FileLeader:
    """A :class:`Leader` across processes: an exclusive ``flock`` on a file beside the DB."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
