"""Wake-ups for PostgreSQL subscribers: a debounced NOTIFY sender, one per store per process.

NOTIFY inside an appending transaction holds PostgreSQL's notification-queue lock through
that transaction's WAL flush and serialises all writers; a NOTIFY transaction after each
append doubles the WAL flushes. Instead appends only raise a flag, and a background thread
sends at most one NOTIFY per ``interval`` (asynchronous commit) on a connection of its own.
A lost or late wake-up only delays readers until their next poll.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import psycopg

log = logging.getLogger("erp_professional.events")
_NOTIFIERS: dict[tuple[int, str, str], Notifier] = {}
_GUARD = threading.Lock()
_NOTIFY = "SELECT pg_notify(%s, '')"


class Notifier:
    def __init__(self, conninfo: str, channel: str, interval: float = 0.005) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._interval = interval
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._cur: psycopg.Cursor[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="erp-events-notify", daemon=True)
        self._thread.start()

    def request(self) -> None:
        # A flag still set is cleared by the sender before its next NOTIFY, which then
        # follows this append's commit: setting it again (a lock round) adds nothing.
        if not self._wanted.is_set():
            self._wanted.set()

    def _send(self) -> None:
        if self._conn is None or self._conn.closed or self._cur is None:
            self._close()
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._conn.execute("SET synchronous_commit = off")
            # One cursor for every NOTIFY: a new one per call (Connection.execute) costs
            # as much again as sending the statement through it.
            self._cur = self._conn.cursor()
        self._cur.execute(_NOTIFY, (self._channel,))

    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self._wanted.wait(1.0):
                self._close()  # idle: give the connection back to the server
                continue
            self._wanted.clear()
            try:
                self._send()
            except psycopg.Error as exc:
                log.warning("events: NOTIFY failed (readers will poll): %s", exc)
                self._close()
            self._stopped.wait(self._interval)
        self._close()

    def _close(self) -> None:
        self._cur = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self._wanted.set()
        self._thread.join(5)


def notifier(conninfo: str, channel: str) -> Notifier:
    """The process's notifier for ``channel`` on ``conninfo`` (a new one after a fork)."""
    key = (os.getpid(), conninfo, channel)
    with _GUARD:
        found = _NOTIFIERS.get(key)
        if found is None:
            found = _NOTIFIERS[key] = Notifier(conninfo, channel)
        return found
