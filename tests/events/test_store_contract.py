"""The store contract, identical on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from erp_professional.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    DuplicateEventId,
    EventStore,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    WrongExpectedVersion,
    acting_as,
)


def ev(kind: str = "Happened", **data: object) -> NewEvent:
    return NewEvent(kind, data)


def test_append_assigns_versions_and_positions(store: EventStore) -> None:
    first = store.append("order-1", [ev(n=1), ev(n=2)], NO_STREAM)
    second = store.append("order-2", [ev(n=3)])
    third = store.append("order-1", [ev(n=4)], 2)
    assert (first.version, second.version, third.version) == (2, 1, 3)
    assert first.positions[0] < first.positions[1] < second.positions[0] < third.positions[0]
    events = store.read_stream("order-1")
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.data["n"] for e in events] == [1, 2, 4]
    assert [e.position for e in events] == [*first.positions, *third.positions]
    assert store.stream_version("order-1") == 3
    assert store.stream_version("missing") == 0
    stats = store.stats()
    assert (stats.events, stats.streams, stats.last_position) == (4, 2, third.position)


@pytest.mark.parametrize(
    ("setup", "expected", "actual"),
    [
        (0, STREAM_EXISTS, 0),
        (2, NO_STREAM, 2),
        (2, 1, 2),
        (2, 3, 2),
        (0, 1, 0),
        (1, 0, 1),
    ],
)
def test_wrong_expected_version_reports_both_and_appends_nothing(
    store: EventStore, setup: int, expected: object, actual: int
) -> None:
    if setup:
        store.append("s", [ev() for _ in range(setup)])
    with pytest.raises(WrongExpectedVersion) as info:
        store.append("s", [ev()], expected)  # type: ignore[arg-type]
    assert info.value.expected == expected
    assert info.value.actual == actual
    assert info.value.stream_id == "s"
    assert len(store.read_stream("s")) == setup
    assert store.stats().events == setup


def test_expected_versions_that_match(store: EventStore) -> None:
    assert store.append("s", [ev()], NO_STREAM).version == 1
    assert store.append("s", [ev()], STREAM_EXISTS).version == 2
    assert store.append("s", [ev()], 2).version == 3
    assert store.append("s", [ev()], ANY).version == 4
    assert store.append("t", [ev()], 0).version == 1
    assert store.append("s", [], 4).positions == ()


def test_retried_append_returns_the_original_result(store: EventStore) -> None:
    events = [ev(n=1), ev(n=2)]
    first = store.append("s", events, NO_STREAM)
    store.append("s", [ev(n=3)])
    again = store.append("s", events, NO_STREAM)
    assert again == first
    again_any = store.append("s", events, ANY)
    assert again_any == first
    assert [e.data["n"] for e in store.read_stream("s")] == [1, 2, 3]


def test_partially_known_ids_are_refused_and_nothing_is_stored(store: EventStore) -> None:
    known = ev(n=1)
    store.append("s", [known])
    with pytest.raises(DuplicateEventId):
        store.append("s", [known, ev(n=2)])
    with pytest.raises(DuplicateEventId):
        store.append("other", [known])
    assert store.stats().events == 1
    assert store.read_stream("other") == []


def test_multi_stream_append_is_atomic(store: EventStore) -> None:
    store.append("b", [ev()])
    results = store.append_many(
        [StreamAppend("a", [ev(), ev()], NO_STREAM), StreamAppend("b", [ev()], 1)]
    )
    assert [(r.stream_id, r.version) for r in results] == [("a", 2), ("b", 2)]
    with pytest.raises(WrongExpectedVersion) as info:
        store.append_many(
            [StreamAppend("a", [ev(n=9)], 2), StreamAppend("c", [ev(n=9)], STREAM_EXISTS)]
        )
    assert info.value.stream_id == "c"
    assert store.stream_version("a") == 2
    assert store.read_stream("c") == []
    assert all(e.data.get("n") != 9 for e in store.read_all())


def test_failure_in_the_middle_of_a_multi_stream_append_leaves_nothing(store: EventStore) -> None:
    taken = ev(n=0)
    store.append("z-existing", [taken])
    with pytest.raises(DuplicateEventId):
        store.append_many(
            [
                StreamAppend("a-first", [ev(n=1), ev(n=2)]),
                StreamAppend("b-second", [ev(n=3), taken]),
            ]
        )
    assert store.read_stream("a-first") == []
    assert store.read_stream("b-second") == []
    assert store.stats().events == 1
    # The store still works and positions stay ordered afterwards.
    later = store.append("a-first", [ev(n=4)], NO_STREAM)
    assert later.version == 1
    assert store.read_all()[-1].data == {"n": 4}


def test_bad_multi_stream_requests_are_refused(store: EventStore) -> None:
    same = ev()
    with pytest.raises(ValueError, match="twice"):
        store.append_many([StreamAppend("a", [ev()]), StreamAppend("a", [ev()])])
    with pytest.raises(ValueError, match="twice"):
        store.append_many([StreamAppend("a", [same]), StreamAppend("b", [same])])
    with pytest.raises(ValueError, match="expected_version"):
        store.append("a", [ev()], -1)
    with pytest.raises(ValueError, match="expected_version"):
        store.append("a", [ev()], True)  # type: ignore[arg-type]
    assert store.stats().events == 0


HOSTILE = [
    "'; DROP TABLE events; --",
    'x" OR "1"="1',
    "back\\slash",
    "100%_like",
    "ünï-cødé-☃-𝄞",
    " spaces and\ttabs\n",
    "$1 ? :name %s",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_stream_ids_and_types_are_stored_verbatim(store: EventStore, name: str) -> None:
    store.append(name, [NewEvent(name, {name: name})])
    store.append("plain", [ev()])
    events = store.read_stream(name)
    assert [(e.stream_id, e.type, e.data) for e in events] == [(name, name, {name: name})]
    assert [e.stream_id for e in store.read_all(types=[name])] == [name]
    assert [e.stream_id for e in store.read_all(stream_prefix=name)] == [name]
    assert [e.stream_id for e in store.audit(stream_id=name)] == [name]
    assert store.stream_version(name) == 1


@pytest.mark.parametrize(
    ("stream", "event", "error"),
    [
        ("bad\x00id", NewEvent("T"), ValueError),
        ("", NewEvent("T"), ValueError),
        ("s", NewEvent("bad\x00type"), ValueError),
        ("s", NewEvent("T", {"x": float("nan")}), ValueError),
        ("s", NewEvent("T", {"x": object()}), TypeError),
        ("s", NewEvent("T", {"x": {1: "int key"}}), TypeError),
        ("s", NewEvent("T", {}, {"actor": ["not", "text"]}), TypeError),
        ("s", NewEvent("T", {}, {"schema_version": 0}), ValueError),
        ("\ud800", NewEvent("T"), ValueError),
    ],
)
def test_bad_input_is_refused_clearly_and_loses_nothing(
    store: EventStore, stream: str, event: NewEvent, error: type[Exception]
) -> None:
    store.append("keep", [ev(n=1)])
    with pytest.raises(error):
        store.append_many([StreamAppend("keep", [ev(n=2)]), StreamAppend(stream, [event])])
    assert [e.data for e in store.read_all()] == [{"n": 1}]


def test_unusual_but_valid_json_round_trips(store: EventStore) -> None:
    data = {"nul": "a\x00b", "deep": {"list": [1, 2.5, None, True, "x"]}, "big": 2**62, "e": ""}
    store.append("s", [NewEvent("T", data)])
    assert store.read_stream("s")[0].data == data


def _fields(event: RecordedEvent) -> dict[str, object]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


def test_read_events_behave_as_plain_values(store: EventStore) -> None:
    """Read events decode their fields lazily; nothing of that shows from outside."""
    meta = Metadata("corr", "cause", "actor-\u00e9", "acme", 3, {"ip": "10.0.0.1", "k": "\u2603"})
    first = NewEvent("T", {"a": [1, {"b": None}], "s": "\u00e9\U0001f600"})
    second = NewEvent("T", {"n": 2}, meta)
    store.append("s", [first, second])
    for one, two in (store.read_stream("s"), store.read_all()):
        assert type(one) is RecordedEvent
        assert one.id == first.id and two.id == second.id
        assert type(one.id) is uuid.UUID and one.id.is_safe is uuid.SafeUUID.unknown
        assert one.metadata == Metadata() and two.metadata == meta
        assert one.data == first.data and two.data == second.data
        assert one.recorded_at.tzinfo is not None
        assert one.data is one.data and two.metadata is two.metadata  # decoded once
    fresh = store.read_all()
    built = [RecordedEvent(**_fields(e)) for e in store.read_all()]
    # Equality, repr and pickling see decoded values, whatever was accessed before.
    assert fresh == built and built == fresh
    assert [repr(e) for e in store.read_all()] == [repr(e) for e in built]
    assert [pickle.loads(pickle.dumps(e)) for e in store.read_all()] == built
    assert [copy.deepcopy(e) for e in store.read_all()] == built
    assert dataclasses.asdict(store.read_all()[1])["metadata"]["tenant"] == "acme"
    changed = dataclasses.replace(store.read_all()[0], type="U")
    assert changed.type == "U" and changed.data == first.data and changed.id == first.id
    event = store.read_all()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(event)  # data is a dict, as before


def test_record_uses_the_aggregate_stream_and_metadata(store: EventStore) -> None:
    result = store.record(
        event_type="InvoiceCreated",
        aggregate_type="invoice",
        aggregate_id=42,
        payload={"total": 10},
        metadata={"userId": "u-1", "correlationId": "c-1", "tenant": "acme", "ip": "10.0.0.1"},
    )
    assert result.stream_id == "invoice-42"
    event = store.read_stream("invoice-42")[0]
    assert event.type == "InvoiceCreated"
    assert event.data == {"total": 10}
    assert event.metadata.actor == "u-1"
    assert event.metadata.correlation_id == "c-1"
    assert event.metadata.tenant == "acme"
    assert event.metadata.headers == {"ip": "10.0.0.1"}
    assert event.recorded_at.tzinfo is not None


def test_actor_and_correlation_default_from_context(store: EventStore) -> None:
    ctx = SpanContext(trace_id=0x1234, span_id=0x99, is_remote=False, trace_flags=TraceFlags(1))
    with acting_as("alice"), trace.use_span(NonRecordingSpan(ctx)):
        store.append("s", [ev()])
        store.append("s", [NewEvent("T", {}, Metadata(actor="bob", correlation_id="given"))])
    store.append("s", [ev()])
    first, second, third = store.read_stream("s")
    assert first.metadata.actor == "alice"
    assert first.metadata.correlation_id == format(0x1234, "032x")
    assert first.metadata.headers["trace_id"] == format(0x1234, "032x")
    assert (second.metadata.actor, second.metadata.correlation_id) == ("bob", "given")
    assert (third.metadata.actor, third.metadata.correlation_id) == (None, None)


def test_audit_filters(target: object) -> None:
    from tests.events.conftest import Target

    assert isinstance(target, Target)
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    store = EventStore(target.url, table_prefix=target.prefix, clock=lambda: now[0])
    try:
        store.append("a", [NewEvent("T", {"i": 1}, {"actor": "ann", "correlation_id": "c1"})])
        now[0] += timedelta(hours=1)
        store.append("b", [NewEvent("T", {"i": 2}, {"actor": "bob", "correlation_id": "c1"})])
        now[0] += timedelta(hours=1)
        store.append("a", [NewEvent("T", {"i": 3}, {"actor": "ann", "tenant": "t"})])

        def ids(**kw: object) -> list[int]:
            return [int(e.data["i"]) for e in store.audit(**kw)]  # type: ignore[arg-type]

        start = datetime(2030, 1, 1, tzinfo=UTC)
        assert ids(actor="ann") == [1, 3]
        assert ids(correlation_id="c1") == [1, 2]
        assert ids(stream_id="a", actor="ann") == [1, 3]
        assert ids(tenant="t") == [3]
        assert ids(since=start + timedelta(minutes=30)) == [2, 3]
        assert ids(until=start + timedelta(minutes=30)) == [1]
        assert ids(limit=2) == [1, 2]
        assert ids(actor="nobody") == []
        with pytest.raises(ValueError, match="timezone"):
            store.audit(since=datetime(2030, 1, 1))
    finally:
        store.close()


def test_read_all_filters_and_pages(store: EventStore) -> None:
    store.append("inv_1", [NewEvent("Created"), NewEvent("Paid")])
    store.append("invX1", [NewEvent("Created")])
    store.append("cust-1", [NewEvent("Registered")])
    everything = store.read_all()
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert len(everything) == 4
    assert store.read_all(after_position=everything[1].position) == everything[2:]
    assert store.read_all(limit=2) == everything[:2]
    assert [e.type for e in store.read_all(types=["Created"])] == ["Created", "Created"]
    assert [e.stream_id for e in store.read_all(stream_prefix="inv_")] == ["inv_1", "inv_1"]
    assert [e.type for e in store.read_all(types=["Paid", "Registered"])] == [
        "Paid",
        "Registered",
    ]
    assert store.read_all(after_position=everything[-1].position) == []
    with pytest.raises(ValueError):
        store.read_all(after_position=-1)
    with pytest.raises(ValueError):
        store.read_all(limit=-5)


def test_read_stream_directions(store: EventStore) -> None:
    store.append("s", [ev(n=i) for i in range(1, 6)])
    assert [e.version for e in store.read_stream("s", from_version=3)] == [3, 4, 5]
    assert [e.version for e in store.read_stream("s", backwards=True)] == [5, 4, 3, 2, 1]
    assert [e.version for e in store.read_stream("s", 4, backwards=True, limit=2)] == [4, 3]
    assert [e.version for e in store.read_stream("s", limit=2)] == [1, 2]
    assert store.read_stream("nope") == []


def test_subscribe_catches_up_then_follows_live_events(store: EventStore) -> None:
    store.append("s", [ev(n=1), ev(n=2)])
    store.append("t", [NewEvent("Other")])
    received: list[int] = []
    with store.subscribe(types=["Happened"], poll_interval=0.05) as sub:
        for _ in range(2):
            event = sub.get(timeout=5)
            assert event is not None
            received.append(int(event.data["n"]))

        def later() -> None:
            store.append("s", [ev(n=3)])
            store.append("t", [NewEvent("Other")])
            store.append("s", [ev(n=4)])

        writer = threading.Thread(target=later)
        writer.start()
        for _ in range(2):
            event = sub.get(timeout=10)
            assert event is not None
            received.append(int(event.data["n"]))
        writer.join()
        assert sub.get(timeout=0.1) is None
        assert sub.position == store.read_all()[-1].position
    assert received == [1, 2, 3, 4]


def test_subscribe_resumes_after_a_position(store: EventStore) -> None:
    results = [store.append("s", [ev(n=i)]) for i in range(4)]
    with store.subscribe(after_position=results[1].position) as sub:
        got = [sub.get(timeout=5) for _ in range(2)]
    assert [e.data["n"] for e in got if e is not None] == [2, 3]


def test_two_stores_on_one_url_share_events(target: object) -> None:
    from tests.events.conftest import Target

    assert isinstance(target, Target)
    one = EventStore(target.url, table_prefix=target.prefix)
    two = EventStore(target.url, table_prefix=target.prefix)
    try:
        one.append("s", [ev()], NO_STREAM)
        with pytest.raises(WrongExpectedVersion):
            two.append("s", [ev()], NO_STREAM)
        assert two.stream_version("s") == 1
        event_id = uuid.uuid4()
        first = two.append("s", [NewEvent("T", {}, None, event_id)], 1)
        assert one.append("s", [NewEvent("T", {}, None, event_id)], 1) == first
    finally:
        one.close()
        two.close()


def test_correlation_defaults_to_the_request_id(store: EventStore) -> None:
    from erp_professional.web import Pipeline, RequestIdConcern, WsgiDriver

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        store.append("req", [ev()])
        start_response("200 OK", [])  # type: ignore[operator]
        return [b"ok"]

    driver = WsgiDriver(app, Pipeline([RequestIdConcern()]))
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_X_REQUEST_ID": "req-abc-123",
        "REMOTE_ADDR": "127.0.0.1",
    }
    body = driver(environ, lambda status, headers, exc_info=None: None)
    assert b"".join(body) == b"ok"
    close = getattr(body, "close", None)
    if close is not None:
        close()
    assert store.read_stream("req")[0].metadata.correlation_id == "req-abc-123"


def test_sqlite_durability_setting(tmp_path: object) -> None:
    from erp_professional.config import EventsConfig

    url = f"sqlite:///{tmp_path}/durable.db"
    for level, code in (("full", 2), ("normal", 1)):
        store = EventStore(config=EventsConfig(url=url, sqlite_synchronous=level))  # type: ignore[arg-type]
        assert store.backend._write.execute("PRAGMA synchronous").fetchone()[0] == code  # type: ignore[attr-defined]
        store.append("s", [ev()])
        store.close()
    with pytest.raises(ValueError):
        EventsConfig(url=url, sqlite_synchronous="off")  # type: ignore[arg-type]


def test_closing_a_subscription_ends_iteration(store: EventStore) -> None:
    store.append("s", [ev(n=1)])
    sub = store.subscribe(poll_interval=0.05)
    got: list[int] = []

    def consume() -> None:
        for event in sub:
            got.append(int(event.data["n"]))

    reader = threading.Thread(target=consume)
    reader.start()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not got and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)
    sub.close()
    reader.join(10)
    assert not reader.is_alive()
    assert got == [1]
    assert sub.get(timeout=0.1) is None


def test_a_batch_mixing_plain_and_annotated_events_keeps_its_order(store: EventStore) -> None:
    events = [NewEvent("T", {"i": i}, {"actor": f"u{i}"} if i % 2 else None) for i in range(6)]
    result = store.append("mixed", events)
    stored = store.read_stream("mixed")
    assert [e.data["i"] for e in stored] == list(range(6))
    assert [e.metadata.actor for e in stored] == [None, "u1", None, "u3", None, "u5"]
    assert [e.position for e in stored] == list(result.positions)
    assert [e.id for e in stored] == [e.id for e in events]


def test_new_event_ids() -> None:
    fixed = uuid.uuid4()
    drawn = NewEvent("T", {}, None, None).id
    assert drawn.version == 7
    assert drawn.variant == uuid.RFC_4122
    # Time-ordered: the first 48 bits are unix milliseconds.
    assert abs((drawn.int >> 80) - time.time() * 1000) < 60_000
    time.sleep(0.002)
    assert NewEvent("T").id > drawn
    assert NewEvent("T", {}, None, str(fixed)).id == fixed  # type: ignore[arg-type]
    assert NewEvent("T").id != NewEvent("T").id
    with pytest.raises(TypeError):
        NewEvent("T", {}, None, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NewEvent("T", {}, None, "not-a-uuid")  # type: ignore[arg-type]


def test_event_ids_are_unique_across_threads_and_forks() -> None:
    drawn: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def draw(into: list[uuid.UUID]) -> None:
        into.extend(NewEvent("T").id for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(d,)) for d in drawn]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for d in drawn for i in d]
    assert len(set(every)) == len(every) == 8000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in every)
    if not hasattr(os, "fork"):
        return
    NewEvent("T")  # the parent holds random bits a child inherits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, NewEvent("T").id.bytes)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 16)
    os.close(read)
    # Same millisecond or not, the child's random bits are its own.
    assert child[6:] != NewEvent("T").id.bytes[6:]


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from erp_professional.connections import MissingDependencyError

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDependencyError, match=r"erp-professional\[postgres\]"):
        EventStore("postgresql://postgres@127.0.0.1:5432/none")


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="does not support"):
        EventStore("redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError):
        EventStore("nonsense")
