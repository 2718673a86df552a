"""Event sourcing: an event store with optimistic concurrency, subscriptions and audit."""

from __future__ import annotations

from ._aggregate import Aggregate, applies
from ._context import acting_as, current_actor, reset_actor, set_actor
from ._projection import ProjectionHealth, ProjectionRunner
from ._projection_async import AsyncProjectionRunner
from ._protocol import Snapshot, StoreStats
from ._registry import (
    EventRegistry,
    UnknownEventType,
    default_registry,
    event_type,
    snapshot_upcaster,
    upcaster,
)
from ._repository import AggregateNotFound, AsyncRepository, Repository
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
    "Aggregate",
    "AggregateNotFound",
    "AppendResult",
    "AsyncEventStore",
    "AsyncProjectionRunner",
    "AsyncRepository",
    "AsyncSubscription",
    "DuplicateEventId",
    "EventRegistry",
    "EventStore",
    "EventStoreError",
    "ExpectedVersion",
    "Metadata",
    "NO_STREAM",
    "NewEvent",
    "ProjectionHealth",
    "ProjectionRunner",
    "RecordedEvent",
    "Repository",
    "STREAM_EXISTS",
    "Snapshot",
    "StoreStats",
    "StreamAppend",
    "Subscription",
    "UnknownEventType",
    "WrongExpectedVersion",
    "acting_as",
    "applies",
    "current_actor",
    "default_registry",
    "event_type",
    "reset_actor",
    "set_actor",
    "snapshot_upcaster",
    "stream_of",
    "upcaster",
]
