"""SQLite specifics: positions SQLite assigns, shapes of rows mixed in one append."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from erp_professional.events import EventStore, Metadata, NewEvent, StreamAppend


def test_mixed_row_shapes_keep_positions_in_append_order(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.append("first", [NewEvent("T", {"n": 0})])
    meta = Metadata(actor="ann", tenant="t1")
    results = store.append_many(
        [
            StreamAppend("plain-a", [NewEvent("T", {"n": 1}), NewEvent("T", {"n": 2})]),
            StreamAppend("meta", [NewEvent("T", {"n": 3}, meta), NewEvent("T", {"n": 4})]),
            StreamAppend("plain-b", [NewEvent("T", {"n": 5})]),
            StreamAppend("one-meta", [NewEvent("T", {"n": 6}, meta)]),
            StreamAppend("plain-c", [NewEvent("T", {"n": i}) for i in (7, 8, 9)]),
        ]
    )
    assert [r.positions for r in results] == [(2, 3), (4, 5), (6,), (7,), (8, 9, 10)]
    events = store.read_all()
    assert [e.data["n"] for e in events] == list(range(10))
    assert [e.position for e in events] == list(range(1, 11))
    by_n = {e.data["n"]: e for e in events}
    assert (by_n[3].metadata.actor, by_n[4].metadata.actor, by_n[6].metadata.tenant) == (
        "ann",
        None,
        "t1",
    )
    assert [(e.stream_id, e.version) for e in store.read_stream("plain-c")] == [
        ("plain-c", 1),
        ("plain-c", 2),
        ("plain-c", 3),
    ]
    store.close()


def test_large_batches_number_their_events_in_order(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.append("s", [NewEvent("T", {"n": i}) for i in range(600)])
    result = store.append("t", [NewEvent("T", {}) for _ in range(300)])
    assert result.positions == tuple(range(601, 901))
    assert [e.position for e in store.read_all(after_position=895)] == list(range(896, 901))
    store.close()


def test_a_batch_of_one_stream_spans_statements_of_every_size(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.append("other", [NewEvent("T", {})])
    events = [NewEvent("T" if i % 2 else "U", {"n": i}) for i in range(345)]  # 256+64+16+4+4+1
    result = store.append("s", events, 0)
    assert (result.version, result.positions) == (345, tuple(range(2, 347)))
    stored = store.read_stream("s")
    assert [e.version for e in stored] == list(range(1, 346))
    assert [(e.id, e.type, e.data) for e in stored] == [(e.id, e.type, e.data) for e in events]
    assert len({e.recorded_at for e in stored}) == 1
    assert store.append("s", events, 0) == result  # an idempotent retry
    more = store.append("s", [NewEvent("T", {}), NewEvent("T", {})], 345)
    assert (more.version, more.positions) == (347, (347, 348))
    store.close()


def test_appends_continue_after_the_largest_stored_position(tmp_path: Path) -> None:
    """Rows stored with explicit positions (as earlier versions wrote them), with a gap."""
    path = tmp_path / "e.db"
    EventStore(f"sqlite:///{path}").close()
    raw = sqlite3.connect(path)
    for position, version in ((1, 1), (2, 2), (10, 3)):
        raw.execute(
            "INSERT INTO erp_events (position, id, stream_id, version, type, data, "
            "schema_version, headers, recorded_at) VALUES (?, ?, 'old', ?, 'T', '{}', 1, '{}', 0)",
            (position, uuid.uuid4().bytes, version),
        )
    raw.commit()
    raw.close()
    store = EventStore(f"sqlite:///{path}")
    assert store.append("old", [NewEvent("T", {}), NewEvent("T", {})], 3).positions == (11, 12)
    assert store.append("new", [NewEvent("T", {})]).positions == (13,)
    assert [e.position for e in store.read_all()] == [1, 2, 10, 11, 12, 13]
    assert [e.version for e in store.read_stream("old")] == [1, 2, 3, 4, 5]
    store.close()
