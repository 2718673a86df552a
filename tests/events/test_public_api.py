"""The public surface of erp_professional.events."""

from __future__ import annotations

import erp_professional.events as events


def test_all_is_sorted_and_importable() -> None:
    assert events.__all__ == sorted(events.__all__)
    for name in events.__all__:
        assert getattr(events, name) is not None, name


def test_the_names_users_import() -> None:
    expected = {
        "ANY",
        "NO_STREAM",
        "STREAM_EXISTS",
        "Aggregate",
        "AsyncEventStore",
        "EventStore",
        "NewEvent",
        "RecordedEvent",
        "Repository",
        "ProjectionRunner",
        "WrongExpectedVersion",
        "set_actor",
    }
    assert expected <= set(events.__all__)
