"""Repositories: load aggregates from events (and snapshots), save with expected_version."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

from ._aggregate import Aggregate
from ._protocol import Snapshot
from ._registry import EventRegistry, default_registry
from ._store import AsyncEventStore, EventStore
from ._types import NO_STREAM, AppendResult, Expected, Metadata, NewEvent, RecordedEvent

A = TypeVar("A", bound=Aggregate)
log = logging.getLogger("erp_professional.events")


class AggregateNotFound(KeyError):
    """No events are stored for this aggregate."""


class _Core(Generic[A]):
    def __init__(
        self,
        aggregate_cls: type[A],
        registry: EventRegistry | None,
        snapshot_every: int | None,
        default_every: int,
    ) -> None:
        self.cls = aggregate_cls
        self.registry = registry or default_registry
        every = aggregate_cls.snapshot_every
        if every is None:
            every = snapshot_every if snapshot_every is not None else default_every
        if every < 0:
            raise ValueError("snapshot_every must be >= 0")
        self.every = every

    def stream(self, aggregate_id: str) -> str:
        return f"{self.cls.aggregate_type}-{aggregate_id}"

    def start(self, aggregate_id: str, snapshot: Snapshot | None) -> A:
        aggregate = self.cls(aggregate_id)
        if snapshot is None or snapshot.type != self.cls.aggregate_type:
            return aggregate
        try:
            state = self.registry.upcast_snapshot(
                self.cls.aggregate_type,
                snapshot.schema_version,
                self.cls.snapshot_version,
                dict(snapshot.state),
            )
            aggregate.restore_state(state)
        except (LookupError, ValueError, TypeError) as exc:
            log.warning(
                "snapshot of %s at version %d not usable (%s); rebuilding from events",
                snapshot.stream_id,
                snapshot.version,
                exc,
            )
            return self.cls(aggregate_id)
        aggregate.version = snapshot.version
        return aggregate

    def fold(self, aggregate: A, events: Sequence[RecordedEvent]) -> A:
        for event in events:
            decoded = self.registry.decode(event.type, event.metadata.schema_version, event.data)
            aggregate.apply(decoded)
            aggregate.version = event.version
        if aggregate.version == 0:
            raise AggregateNotFound(aggregate.stream_id)
        return aggregate

    def new_events(
        self, aggregate: A, metadata: Metadata | Mapping[str, object] | None
    ) -> tuple[list[NewEvent], Expected]:
        if metadata is None:
            base = Metadata()
        elif isinstance(metadata, Metadata):
            base = metadata
        else:
            base = Metadata.from_mapping(metadata)
        events = []
        for pending in aggregate.pending_events:
            name, version, data = self.registry.encode(pending)
            events.append(NewEvent(name, data, dataclasses.replace(base, schema_version=version)))
        previous = aggregate.version - len(events)
        return events, (previous if previous > 0 else NO_STREAM)

    def snapshot_due(self, before: int, after: int) -> bool:
        return self.every > 0 and after // self.every > before // self.every

    def snapshot_of(self, aggregate: A) -> Snapshot:
        return Snapshot(
            aggregate.stream_id,
            aggregate.version,
            self.cls.aggregate_type,
            self.cls.snapshot_version,
            aggregate.snapshot_state(),
        )


class Repository(Generic[A]):
    """Load and save one aggregate class through an :class:`EventStore`.

    Snapshots are taken every ``snapshot_every`` events (the aggregate's own policy wins;
    default from the store's configuration). They are a cache: :meth:`discard_snapshots`
    drops them and loads fall back to (and rebuild from) the events.
    """

    def __init__(
        self,
        store: EventStore,
        aggregate_cls: type[A],
        *,
        registry: EventRegistry | None = None,
        snapshot_every: int | None = None,
    ) -> None:
        self.store = store
        self._core = _Core(aggregate_cls, registry, snapshot_every, store.config.snapshot_every)

    def load(self, aggregate_id: str) -> A:
        """The aggregate rebuilt from its snapshot and events; AggregateNotFound if none."""
        stream = self._core.stream(str(aggregate_id))
        snapshot = self.store.load_snapshot(stream) if self._core.every else None
        aggregate = self._core.start(str(aggregate_id), snapshot)
        events = self.store.read_stream(stream, from_version=aggregate.version + 1)
        return self._core.fold(aggregate, events)

    def get(self, aggregate_id: str) -> A | None:
        """Like :meth:`load` but ``None`` when the aggregate does not exist."""
        try:
            return self.load(aggregate_id)
        except AggregateNotFound:
            return None

    def save(
        self, aggregate: A, *, metadata: Metadata | Mapping[str, object] | None = None
    ) -> AppendResult | None:
        """Append the pending events, expecting the version the aggregate was loaded at."""
        events, expected = self._core.new_events(aggregate, metadata)
        if not events:
            return None
        result = self.store.append(aggregate.stream_id, events, expected)
        aggregate.mark_saved()
        if self._core.snapshot_due(result.version - len(events), result.version):
            self.store.save_snapshot(self._core.snapshot_of(aggregate))
        return result

    def take_snapshot(self, aggregate_id: str) -> Snapshot:
        """Rebuild the aggregate from its events alone and store a fresh snapshot."""
        stream = self._core.stream(str(aggregate_id))
        aggregate = self._core.fold(
            self._core.start(str(aggregate_id), None), self.store.read_stream(stream)
        )
        snapshot = self._core.snapshot_of(aggregate)
        self.store.save_snapshot(snapshot)
        return snapshot

    def discard_snapshots(self) -> int:
        """Delete every snapshot of this aggregate type; returns how many."""
        return self.store.delete_snapshots(f"{self._core.cls.aggregate_type}-")


class AsyncRepository(Generic[A]):
    """The async twin of :class:`Repository`."""

    def __init__(
        self,
        store: AsyncEventStore,
        aggregate_cls: type[A],
        *,
        registry: EventRegistry | None = None,
        snapshot_every: int | None = None,
    ) -> None:
        self.store = store
        self._core = _Core(aggregate_cls, registry, snapshot_every, store.config.snapshot_every)

    async def load(self, aggregate_id: str) -> A:
        """The aggregate rebuilt from its snapshot and events; AggregateNotFound if none."""
        stream = self._core.stream(str(aggregate_id))
        snapshot = await self.store.load_snapshot(stream) if self._core.every else None
        aggregate = self._core.start(str(aggregate_id), snapshot)
        events = await self.store.read_stream(stream, from_version=aggregate.version + 1)
        return self._core.fold(aggregate, events)

    async def get(self, aggregate_id: str) -> A | None:
        """Like :meth:`load` but ``None`` when the aggregate does not exist."""
        try:
            return await self.load(aggregate_id)
        except AggregateNotFound:
            return None

    async def save(
        self, aggregate: A, *, metadata: Metadata | Mapping[str, object] | None = None
    ) -> AppendResult | None:
        """Append the pending events, expecting the version the aggregate was loaded at."""
        events, expected = self._core.new_events(aggregate, metadata)
        if not events:
            return None
        result = await self.store.append(aggregate.stream_id, events, expected)
        aggregate.mark_saved()
        if self._core.snapshot_due(result.version - len(events), result.version):
            await self.store.save_snapshot(self._core.snapshot_of(aggregate))
        return result

    async def take_snapshot(self, aggregate_id: str) -> Snapshot:
        """Rebuild the aggregate from its events alone and store a fresh snapshot."""
        stream = self._core.stream(str(aggregate_id))
        events = await self.store.read_stream(stream)
        aggregate = self._core.fold(self._core.start(str(aggregate_id), None), events)
        snapshot = self._core.snapshot_of(aggregate)
        await self.store.save_snapshot(snapshot)
        return snapshot

    async def discard_snapshots(self) -> int:
        """Delete every snapshot of this aggregate type; returns how many."""
        return await self.store.delete_snapshots(f"{self._core.cls.aggregate_type}-")
