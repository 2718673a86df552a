"""Arbitrary input is either stored verbatim or refused clearly with nothing stored."""

from __future__ import annotations

import math
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional.events import EventStore, Metadata, NewEvent

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=20)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
DATA: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list | tuple) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream=ANY_TEXT, kind=ANY_TEXT, data=st.dictionaries(ANY_TEXT, DATA, max_size=3), actor=ANY_TEXT
)
def test_store_or_refuse(store: EventStore, stream: str, kind: str, data: dict, actor: str) -> None:
    ns = uuid.uuid4().hex[:8] + "/"
    before = store.stats().events
    event = NewEvent(kind, data, Metadata(actor=actor))
    try:
        store.append(ns + stream, [event])
    except (TypeError, ValueError):
        assert store.stats().events == before
        return
    (stored,) = store.read_stream(ns + stream)
    assert stored.stream_id == ns + stream
    assert stored.type == kind
    assert stored.metadata.actor == actor
    assert _same(data, stored.data)
