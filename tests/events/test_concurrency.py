"""Four writer processes and a live subscriber: exactly once, in order, gapless versions."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from erp_professional.events import EventStore, RecordedEvent
from tests.events._workers import writer
from tests.events.conftest import drop_pg_tables

pytestmark = pytest.mark.slow

WRITERS = 4
APPENDS = 120


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    prefix = f"k{uuid.uuid4().hex[:10]}_"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}", prefix
        return
    url = request.getfixturevalue("postgres_url")
    yield url, prefix
    drop_pg_tables(url, prefix)


def test_concurrent_writers_and_a_live_subscriber(shared_url: tuple[str, str]) -> None:
    url, prefix = shared_url
    store = EventStore(url, table_prefix=prefix)
    received: list[RecordedEvent] = []
    stop = threading.Event()

    def follow() -> None:
        with store.subscribe(poll_interval=0.05, batch_size=97) as sub:
            while not stop.is_set():
                event = sub.get(timeout=0.2)
                if event is not None:
                    received.append(event)

    follower = threading.Thread(target=follow)
    follower.start()
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    try:
        start = manager.Event()
        with ProcessPoolExecutor(WRITERS, mp_context=ctx) as pool:
            futures = [pool.submit(writer, url, prefix, w, APPENDS, start) for w in range(WRITERS)]
            time.sleep(0.5)
            start.set()
            written = sum(f.result(timeout=120) for f in futures)
        stored = store.read_all()
        assert len(stored) == written
        deadline = time.monotonic() + 30
        while len(received) < written and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        follower.join(10)
        manager.shutdown()
        store.close()

    ids = [e.id for e in received]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert set(ids) == {e.id for e in stored}, "an event was missed"
    positions = [e.position for e in received]
    assert positions == sorted(positions)
    assert [e.id for e in received] == [e.id for e in stored]
    versions: dict[str, int] = {}
    for event in received:
        assert event.version == versions.get(event.stream_id, 0) + 1, event
        versions[event.stream_id] = event.version
    assert versions["hot"] == WRITERS * (APPENDS // 3)
