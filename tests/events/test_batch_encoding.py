"""A batch of events without metadata is encoded at once: same text, same errors as one by one."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.events import NewEvent, StreamAppend
from erp_professional.events._context import capture
from erp_professional.events._core import encode_data, prepare

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=8)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
DATA: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(ANY_TEXT | st.integers() | st.none(), inner, max_size=3)
    ),
    max_leaves=6,
)
NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _one_by_one(datas: list[Any]) -> list[str] | Exception:
    texts = []
    for data in datas:
        try:
            texts.append(encode_data(data))
        except (TypeError, ValueError) as exc:
            return exc
    return texts


def _batch(datas: list[Any]) -> list[str] | Exception:
    events = [NewEvent("T", data) for data in datas]
    try:
        (batch,) = prepare([StreamAppend("s", events)], capture(), NOW)
    except (TypeError, ValueError) as exc:
        return exc
    return [e.data for e in batch.events]


def _check(datas: list[Any]) -> None:
    expected, got = _one_by_one(datas), _batch(datas)
    if isinstance(expected, Exception):
        assert isinstance(got, Exception)
        assert (type(got), str(got)) == (type(expected), str(expected))
    else:
        assert got == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(ANY_TEXT | st.integers(), DATA, max_size=3), min_size=2, max_size=4)
)
def test_batch_encoding_matches_one_by_one(datas: list[Any]) -> None:
    _check(datas)


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


class _Text(str):
    pass


@pytest.mark.parametrize(
    "bad",
    [
        {1: "int key"},
        {"nested": {2: "int key"}},
        {_Text("k"): "str subclass key"},
        {"nan": math.nan},
        {"lone": "\ud800"},
        {"set": {1, 2}},
        {"nested": [object()]},
        _circular(),
    ],
    ids=["int-key", "nested-int-key", "str-subclass", "nan", "surrogate", "set", "object", "loop"],
)
def test_a_bad_event_in_a_batch_is_reported_as_alone(bad: dict[Any, Any]) -> None:
    datas = [{"ok": 1}, bad, {"ok": 2}]
    assert isinstance(_one_by_one(datas), Exception)
    _check(datas)


def test_batches_of_empty_and_nested_data_encode_as_one_by_one() -> None:
    _check([{}, {}])
    _check([{"a": {"b": [1, (2, 3)]}}, {"emoji": "\U0001f600", "é": "ü"}])
