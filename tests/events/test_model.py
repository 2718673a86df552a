"""Random batches with random expected versions against a simple model, on every backend."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    EventStore,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
)
from erp_professional.events._core import expectation_met

EXPECTED = st.sampled_from([ANY, NO_STREAM, STREAM_EXISTS, 0, 1, 2, 3, 4])
APPEND = st.tuples(st.just("append"), st.integers(0, 2), st.integers(0, 3), EXPECTED)
MULTI = st.tuples(
    st.just("multi"),
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 2), EXPECTED, EXPECTED),
)
RETRY = st.tuples(st.just("retry"), st.integers(0, 50))
OPS = st.lists(st.one_of(APPEND, MULTI, RETRY), min_size=1, max_size=12)


@dataclass
class Done:
    appends: list[StreamAppend]
    results: list[AppendResult]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_store_matches_the_model(store: EventStore, ops: list[tuple[object, ...]]) -> None:
    ns = uuid.uuid4().hex[:8]
    names = [f"{ns}-{i}" for i in range(3)]
    model: dict[str, list[uuid.UUID]] = {n: [] for n in names}
    order: list[uuid.UUID] = []
    done: list[Done] = []

    def attempt(appends: list[StreamAppend]) -> None:
        current = {a.stream_id: len(model[a.stream_id]) for a in appends}
        ok = all(expectation_met(a.expected_version, current[a.stream_id]) for a in appends)
        if not ok:
            with pytest.raises(WrongExpectedVersion) as info:
                store.append_many(appends)
            assert info.value.actual == current[info.value.stream_id]
            assert not expectation_met(info.value.expected, info.value.actual)
            return
        results = store.append_many(appends)
        for a, r in zip(appends, results, strict=True):
            model[a.stream_id].extend(e.id for e in a.events)
            order.extend(e.id for e in a.events)
            assert r.version == len(model[a.stream_id])
            assert len(r.positions) == len(a.events)
        if any(a.events for a in appends):
            done.append(Done(appends, results))

    for op in ops:
        if op[0] == "append":
            _, s, n, expected = op
            events = [NewEvent("T", {"i": i}) for i in range(int(n))]  # type: ignore[call-overload]
            attempt([StreamAppend(names[int(s)], events, expected)])  # type: ignore[call-overload, arg-type]
        elif op[0] == "multi":
            s1, s2, n, e1, e2 = op[1]  # type: ignore[misc]
            if s1 == s2:
                continue
            attempt(
                [
                    StreamAppend(names[s1], [NewEvent("M") for _ in range(n)], e1),
                    StreamAppend(names[s2], [NewEvent("M") for _ in range(n)], e2),
                ]
            )
        elif done:
            previous = done[int(op[1]) % len(done)]  # type: ignore[call-overload]
            assert store.append_many(previous.appends) == previous.results

    for name in names:
        assert [e.id for e in store.read_stream(name)] == model[name]
        assert [e.version for e in store.read_stream(name)] == list(range(1, len(model[name]) + 1))
        assert store.stream_version(name) == len(model[name])
    everything = store.read_all(stream_prefix=ns)
    assert [e.id for e in everything] == order
    positions = [e.position for e in everything]
    assert positions == sorted(set(positions))
