"""Event sourcing: an event store with optimistic concurrency, subscriptions and audit."""

from __future__ import annotations

from ._context import acting_as, current_actor, reset_actor, set_actor
from ._protocol import Snapshot, StoreStats
from ._store import AsyncEventStore, EventStore, stream_of
from ._subscription import AsyncSubscription, Subscription
from ._types import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    DuplicateEventId,
    EventStoreError,
    ExpectedVersion,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    WrongExpectedVersion,
)

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "AsyncEventStore",
    "AsyncSubscription",
    "DuplicateEventId",
    "EventStore",
    "EventStoreError",
    "ExpectedVersion",
    "Metadata",
    "NewEvent",
    "RecordedEvent",
    "Snapshot",
    "StoreStats",
    "StreamAppend",
    "Subscription",
    "WrongExpectedVersion",
    "acting_as",
    "current_actor",
    "reset_actor",
    "set_actor",
    "stream_of",
]
