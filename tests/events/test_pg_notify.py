"""The debounced NOTIFY sender of PostgreSQL stores."""

from __future__ import annotations

import uuid

import psycopg

from erp_professional.events._pg_notify import Notifier


def test_the_sender_reuses_its_cursor_and_reconnects_after_losing_its_connection(
    postgres_url: str,
) -> None:
    channel = f"n{uuid.uuid4().hex[:10]}"
    sender = Notifier(postgres_url, channel)
    sender.stop()  # drive it by hand
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {channel}")

        def received() -> int:
            return sum(1 for _ in listener.notifies(timeout=0.5, stop_after=1))

        sender._send()
        cursor = sender._cur
        assert received() == 1
        sender._send()
        assert sender._cur is cursor
        assert received() == 1
        assert sender._conn is not None
        sender._conn.close()  # lost (server restart, idle timeout): a new one next time
        sender._send()
        assert sender._cur is not cursor
        assert received() == 1
        sender._close()  # idle
        assert sender._cur is None
        sender._send()
        assert received() == 1
        sender._close()


def test_a_raised_flag_is_not_raised_again(postgres_url: str) -> None:
    sender = Notifier(postgres_url, f"n{uuid.uuid4().hex[:10]}")
    sender.stop()
    sender._wanted.clear()
    sender.request()
    assert sender._wanted.is_set()
    sender.request()
    assert sender._wanted.is_set()
