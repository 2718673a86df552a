"""A hypothesis state machine: appends, retries, conflicts and a live subscription."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from erp_professional.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    EventStore,
    NewEvent,
    StreamAppend,
    Subscription,
    WrongExpectedVersion,
)
from erp_professional.events._core import expectation_met

STREAMS = ["a", "b", "c"]
EXPECTED = st.sampled_from([ANY, NO_STREAM, STREAM_EXISTS, 0, 1, 2, 3])


class StoreMachine(RuleBasedStateMachine):
    url = "memory://"
    prefix = "erp_"

    def __init__(self) -> None:
        super().__init__()
        self.ns = uuid.uuid4().hex[:8] + "-"
        self.store = EventStore(self.url, table_prefix=self.prefix)
        self.model: dict[str, list[uuid.UUID]] = {s: [] for s in STREAMS}
        self.order: list[uuid.UUID] = []
        self.done: list[tuple[list[StreamAppend], list[AppendResult]]] = []
        self.sub: Subscription = self.store.subscribe(stream_prefix=self.ns, poll_interval=0.01)
        self.delivered: list[uuid.UUID] = []

    def _attempt(self, appends: list[StreamAppend]) -> None:
        current = {a.stream_id: len(self.model[a.stream_id[len(self.ns) :]]) for a in appends}
        if not all(expectation_met(a.expected_version, current[a.stream_id]) for a in appends):
            with pytest.raises(WrongExpectedVersion):
                self.store.append_many(appends)
            return
        results = self.store.append_many(appends)
        for a in appends:
            self.model[a.stream_id[len(self.ns) :]].extend(e.id for e in a.events)
            self.order.extend(e.id for e in a.events)
        if any(a.events for a in appends):
            self.done.append((appends, results))

    @rule(stream=st.sampled_from(STREAMS), n=st.integers(0, 3), expected=EXPECTED)
    def append(self, stream: str, n: int, expected: object) -> None:
        events = [NewEvent("T", {"i": i}) for i in range(n)]
        self._attempt([StreamAppend(self.ns + stream, events, expected)])  # type: ignore[arg-type]

    @rule(pair=st.permutations(STREAMS), e1=EXPECTED, e2=EXPECTED)
    def append_two(self, pair: list[str], e1: object, e2: object) -> None:
        self._attempt(
            [
                StreamAppend(self.ns + pair[0], [NewEvent("M")], e1),  # type: ignore[arg-type]
                StreamAppend(self.ns + pair[1], [NewEvent("M"), NewEvent("M")], e2),  # type: ignore[arg-type]
            ]
        )

    @precondition(lambda self: bool(self.done))
    @rule(pick=st.integers(0, 100))
    def retry(self, pick: int) -> None:
        appends, results = self.done[pick % len(self.done)]
        assert self.store.append_many(appends) == results

    @rule()
    def drain_subscription(self) -> None:
        while True:
            event = self.sub.get(timeout=0)
            if event is None:
                break
            self.delivered.append(event.id)
        assert self.delivered == self.order[: len(self.delivered)]

    @invariant()
    def streams_match_the_model(self) -> None:
        for name in STREAMS:
            assert self.store.stream_version(self.ns + name) == len(self.model[name])

    def teardown(self) -> None:
        self.drain_subscription()
        assert self.delivered == self.order
        self.sub.close()
        self.store.close()


@pytest.mark.parametrize(
    "kind", ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_state_machine(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from tests.events.conftest import drop_pg_tables

    prefix = f"m{uuid.uuid4().hex[:10]}_"
    if kind == "memory":
        url = f"memory://{uuid.uuid4().hex}"
    elif kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'machine.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    machine = type("Machine", (StoreMachine,), {"url": url, "prefix": prefix})
    try:
        run_state_machine_as_test(
            machine, settings=settings(max_examples=25, stateful_step_count=15, deadline=None)
        )
    finally:
        if kind == "postgres":
            drop_pg_tables(url, prefix)
