"""``EventStore`` and ``AsyncEventStore``: the public faces over one backend protocol."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from opentelemetry import metrics

from erp_professional.config import EventsConfig

from . import _context
from ._backends import AsyncBackend, open_async_backend, open_backend
from ._core import (
    AuditQuery,
    Batch,
    Clock,
    check_limit,
    check_name,
    check_types,
    prepare,
    utc_now,
)
from ._protocol import Backend, Snapshot, StoreStats
from ._subscription import AsyncSubscription, Subscription
from ._types import (
    ANY,
    AppendResult,
    Expected,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    WrongExpectedVersion,
)

if TYPE_CHECKING:
    from types import TracebackType

_meter = metrics.get_meter("erp_professional.events")
_appended = _meter.create_counter(
    "erp_professional.events.appended", unit="{event}", description="Events appended"
)
_conflicts = _meter.create_counter(
    "erp_professional.events.conflicts",
    unit="{append}",
    description="Appends refused with WrongExpectedVersion",
)
_append_time = _meter.create_histogram(
    "erp_professional.events.append.duration", unit="s", description="Append duration"
)


def _settings(config: EventsConfig | None, overrides: Mapping[str, object]) -> EventsConfig:
    base = config if config is not None else EventsConfig()
    values = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=values) if values else base


def stream_of(aggregate_type: str, aggregate_id: object) -> str:
    """The stream id of an aggregate: ``{aggregate_type}-{aggregate_id}``."""
    return f"{check_name('aggregate type', aggregate_type)}-{aggregate_id}"


def _record_append(
    *,
    event_type: str,
    aggregate_type: str,
    aggregate_id: object,
    payload: Mapping[str, object] | None,
    metadata: Metadata | Mapping[str, object] | None,
    expected_version: Expected,
    event_id: uuid.UUID | None,
) -> StreamAppend:
    event = NewEvent(
        event_type, payload or {}, metadata, event_id if event_id is not None else uuid.uuid4()
    )
    return StreamAppend(stream_of(aggregate_type, aggregate_id), (event,), expected_version)


def _audit_query(
    actor: str | None,
    correlation_id: str | None,
    stream_id: str | None,
    tenant: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> AuditQuery:
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("audit since/until must be timezone-aware datetimes")
    return AuditQuery(actor, correlation_id, stream_id, tenant, since, until, check_limit(limit))


class _Base:
    def __init__(
        self,
        url: str | None,
        config: EventsConfig | None,
        table_prefix: str | None,
        clock: Clock | None,
    ) -> None:
        self.config = _settings(config, {"url": url, "table_prefix": table_prefix})
        self.url = self.config.url
        self._clock: Clock = clock or utc_now
        self._attributes = {"backend": self._kind()}  # of the metrics

    def _prepare(self, appends: Sequence[StreamAppend]) -> list[Batch]:
        if isinstance(appends, StreamAppend):
            raise TypeError("append_many takes a sequence of StreamAppend")
        return prepare(appends, _context.capture(), self._clock())

    def _kind(self) -> str:
        return self.url.split("://", 1)[0].lower()


class EventStore(_Base):
    """An event store on ``memory://``, ``sqlite:///path.db`` or ``postgresql://...``.

    ``EventStore()`` uses :class:`~erp_professional.config.EventsConfig` (embedded SQLite
    by default). Appends are atomic; reads see only committed, gap-safe positions.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        config: EventsConfig | None = None,
        table_prefix: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(url, config, table_prefix, clock)
        self._backend: Backend = open_backend(self.url, self.config)

    @property
    def backend(self) -> Backend:
        return self._backend

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: Expected = ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` if it is at ``expected_version``."""
        if isinstance(events, NewEvent):
            events = (events,)
        return self.append_many([StreamAppend(stream_id, tuple(events), expected_version)])[0]

    def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append to several streams atomically: all of them or none."""
        batches = self._prepare(appends)
        start = time.perf_counter()
        try:
            results = self._backend.append(batches)
        except WrongExpectedVersion:
            _conflicts.add(1, self._attributes)
            raise
        _append_time.record(time.perf_counter() - start, self._attributes)
        _appended.add(sum(len(b.events) for b in batches), self._attributes)
        return results

    def record(
        self,
        *,
        event_type: str,
        aggregate_type: str,
        aggregate_id: object,
        payload: Mapping[str, object] | None = None,
        metadata: Metadata | Mapping[str, object] | None = None,
        expected_version: Expected = ANY,
        event_id: uuid.UUID | None = None,
    ) -> AppendResult:
        """Append one event to the stream ``{aggregate_type}-{aggregate_id}``."""
        append = _record_append(
            event_type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload=payload,
            metadata=metadata,
            expected_version=expected_version,
            event_id=event_id,
        )
        return self.append_many([append])[0]

    def read_stream(
        self,
        stream_id: str,
        from_version: int = 0,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from ``from_version`` (inclusive; versions start at 1).

        Backwards reads start at ``from_version``, or at the last event when it is 0.
        """
        check_name("stream id", stream_id)
        _check_version(from_version)
        return self._backend.read_stream(stream_id, from_version, backwards, check_limit(limit))

    def read_all(
        self,
        after_position: int = 0,
        limit: int | None = None,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
    ) -> list[RecordedEvent]:
        """Committed events after ``after_position`` in position order."""
        _check_version(after_position)
        events, _ = self._backend.read_all(
            after_position, check_limit(limit), check_types(types), stream_prefix
        )
        return events

    def subscribe(
        self,
        after_position: int = 0,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        *,
        batch_size: int | None = None,
        poll_interval: float | None = None,
    ) -> Subscription:
        """Catch up from ``after_position``, then follow new events as they commit."""
        _check_version(after_position)
        return Subscription(
            self._backend,
            after_position,
            check_types(types),
            stream_prefix,
            batch_size or self.config.batch_size,
            poll_interval or self.config.poll_interval,
        )

    def audit(
        self,
        actor: str | None = None,
        correlation_id: str | None = None,
        stream_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """The audit trail: events filtered by actor, correlation, stream, tenant and time."""
        query = _audit_query(actor, correlation_id, stream_id, tenant, since, until, limit)
        return self._backend.audit(query)

    def stream_version(self, stream_id: str) -> int:
        """The current version of a stream (0 when it does not exist)."""
        return self._backend.stream_version(check_name("stream id", stream_id))

    def stats(self) -> StoreStats:
        """Counts of events, streams and snapshots, and the last position."""
        return self._backend.stats()

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store (replace) the snapshot of a stream."""
        check_name("stream id", snapshot.stream_id)
        self._backend.save_snapshot(snapshot)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stored snapshot of a stream, if any."""
        return self._backend.load_snapshot(check_name("stream id", stream_id))

    def delete_snapshots(self, stream_prefix: str | None = None) -> int:
        """Delete snapshots (all, or of streams starting with ``stream_prefix``)."""
        return self._backend.delete_snapshots(stream_prefix)

    def close(self) -> None:
        """Close the store's own connections (shared pools stay open)."""
        self._backend.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEventStore(_Base):
    """The asyncio twin of :class:`EventStore` (same methods, awaited).

    The backend is opened on first use; ``async with AsyncEventStore(url) as store``
    closes it at the end.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        config: EventsConfig | None = None,
        table_prefix: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(url, config, table_prefix, clock)
        self._backend_: AsyncBackend | None = None
        self._opening: asyncio.Lock | None = None

    async def backend(self) -> AsyncBackend:
        if self._backend_ is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._backend_ is None:
                    self._backend_ = await open_async_backend(self.url, self.config)
        return self._backend_

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: Expected = ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` if it is at ``expected_version``."""
        if isinstance(events, NewEvent):
            events = (events,)
        appends = [StreamAppend(stream_id, tuple(events), expected_version)]
        return (await self.append_many(appends))[0]

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append to several streams atomically: all of them or none."""
        batches = self._prepare(appends)
        backend = await self.backend()
        start = time.perf_counter()
        try:
            results = await backend.append(batches)
        except WrongExpectedVersion:
            _conflicts.add(1, self._attributes)
            raise
        _append_time.record(time.perf_counter() - start, self._attributes)
        _appended.add(sum(len(b.events) for b in batches), self._attributes)
        return results

    async def record(
        self,
        *,
        event_type: str,
        aggregate_type: str,
        aggregate_id: object,
        payload: Mapping[str, object] | None = None,
        metadata: Metadata | Mapping[str, object] | None = None,
        expected_version: Expected = ANY,
        event_id: uuid.UUID | None = None,
    ) -> AppendResult:
        """Append one event to the stream ``{aggregate_type}-{aggregate_id}``."""
        append = _record_append(
            event_type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload=payload,
            metadata=metadata,
            expected_version=expected_version,
            event_id=event_id,
        )
        return (await self.append_many([append]))[0]

    async def read_stream(
        self,
        stream_id: str,
        from_version: int = 0,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream from ``from_version`` (see :meth:`EventStore.read_stream`)."""
        check_name("stream id", stream_id)
        _check_version(from_version)
        backend = await self.backend()
        return await backend.read_stream(stream_id, from_version, backwards, check_limit(limit))

    async def read_all(
        self,
        after_position: int = 0,
        limit: int | None = None,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
    ) -> list[RecordedEvent]:
        """Committed events after ``after_position`` in position order."""
        _check_version(after_position)
        backend = await self.backend()
        events, _ = await backend.read_all(
            after_position, check_limit(limit), check_types(types), stream_prefix
        )
        return events

    async def subscribe(
        self,
        after_position: int = 0,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        *,
        batch_size: int | None = None,
        poll_interval: float | None = None,
    ) -> AsyncSubscription:
        """Catch up from ``after_position``, then follow new events as they commit."""
        _check_version(after_position)
        return AsyncSubscription(
            await self.backend(),
            after_position,
            check_types(types),
            stream_prefix,
            batch_size or self.config.batch_size,
            poll_interval or self.config.poll_interval,
        )

    async def audit(
        self,
        actor: str | None = None,
        correlation_id: str | None = None,
        stream_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """The audit trail (see :meth:`EventStore.audit`)."""
        query = _audit_query(actor, correlation_id, stream_id, tenant, since, until, limit)
        return await (await self.backend()).audit(query)

    async def stream_version(self, stream_id: str) -> int:
        """The current version of a stream (0 when it does not exist)."""
        check_name("stream id", stream_id)
        return await (await self.backend()).stream_version(stream_id)

    async def stats(self) -> StoreStats:
        """Counts of events, streams and snapshots, and the last position."""
        return await (await self.backend()).stats()

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store (replace) the snapshot of a stream."""
        check_name("stream id", snapshot.stream_id)
        await (await self.backend()).save_snapshot(snapshot)

    async def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stored snapshot of a stream, if any."""
        check_name("stream id", stream_id)
        return await (await self.backend()).load_snapshot(stream_id)

    async def delete_snapshots(self, stream_prefix: str | None = None) -> int:
        """Delete snapshots (all, or of streams starting with ``stream_prefix``)."""
        return await (await self.backend()).delete_snapshots(stream_prefix)

    async def close(self) -> None:
        """Close the store's own connections (shared pools stay open)."""
        if self._backend_ is not None:
            backend, self._backend_ = self._backend_, None
            await backend.close()

    async def __aenter__(self) -> AsyncEventStore:
        await self.backend()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _check_version(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"versions and positions are ints >= 0, got {value!r}")
