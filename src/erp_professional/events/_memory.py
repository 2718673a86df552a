"""The in-memory backend: a real implementation of the store semantics, one per URL."""

from __future__ import annotations

import json
import threading
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._core import AuditQuery, Batch, expectation_met, replayed
from ._protocol import (
    BatchHandler,
    LocalLeader,
    Signal,
    SignalWaiter,
    Snapshot,
    StoreStats,
    local_lock,
)
from ._types import AppendResult, Metadata, RecordedEvent, WrongExpectedVersion


@dataclass
class _Data:
    lock: threading.RLock = field(default_factory=threading.RLock)
    signal: Signal = field(default_factory=Signal)
    events: list[RecordedEvent] = field(default_factory=list)
    streams: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    ids: dict[uuid.UUID, tuple[str, int, int]] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    checkpoints: dict[str, int] = field(default_factory=dict)


_STORES: dict[str, _Data] = {}
_STORES_LOCK = threading.Lock()


def _data_for(url: str) -> _Data:
    with _STORES_LOCK:
        data = _STORES.get(url)
        if data is None:
            data = _STORES[url] = _Data()
        return data


class MemoryBackend:
    """Events in process memory, shared by every store opened on the same ``memory://`` URL."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._d = _data_for(url)
        self.signal = self._d.signal

    def setup(self) -> None:
        return None

    def append(self, batches: Sequence[Batch]) -> list[AppendResult]:
        d = self._d
        with d.lock:
            current = {b.stream_id: len(d.streams.get(b.stream_id, ())) for b in batches}
            conflict: WrongExpectedVersion | None = None
            for b in batches:
                if not expectation_met(b.expected, current[b.stream_id]):
                    conflict = WrongExpectedVersion(b.stream_id, b.expected, current[b.stream_id])
                    break
            if conflict is not None or any(e.id in d.ids for b in batches for e in b.events):
                again = replayed(batches, d.ids, current)
                if again is not None:
                    return again
                assert conflict is not None
                raise conflict
            results = []
            position = len(d.events)
            for b in batches:
                stream = d.streams.setdefault(b.stream_id, [])
                positions = []
                for e in b.events:
                    position += 1
                    recorded = RecordedEvent(
                        id=e.id,
                        stream_id=b.stream_id,
                        version=len(stream) + 1,
                        position=position,
                        type=e.type,
                        data=json.loads(e.data),
                        metadata=Metadata(
                            e.correlation_id,
                            e.causation_id,
                            e.actor,
                            e.tenant,
                            e.schema_version,
                            json.loads(e.headers),
                        ),
                        recorded_at=e.recorded_at,
                    )
                    stream.append(recorded)
                    d.events.append(recorded)
                    d.ids[e.id] = (b.stream_id, recorded.version, position)
                    positions.append(position)
                if not stream:
                    del d.streams[b.stream_id]
                results.append(AppendResult(b.stream_id, len(stream), tuple(positions)))
        if any(b.events for b in batches):
            d.signal.bump()
        return results

    def read_stream(
        self, stream_id: str, from_version: int, backwards: bool, limit: int | None
    ) -> list[RecordedEvent]:
        with self._d.lock:
            stream = list(self._d.streams.get(stream_id, ()))
        if backwards:
            chosen = [e for e in reversed(stream) if from_version == 0 or e.version <= from_version]
        else:
            chosen = [e for e in stream if e.version >= from_version]
        return chosen if limit is None else chosen[:limit]

    def read_all(
        self,
        after: int,
        limit: int | None,
        types: tuple[str, ...] | None,
        prefix: str | None,
        wait: float = 5.0,
    ) -> tuple[list[RecordedEvent], int]:
        with self._d.lock:
            events = self._d.events
            horizon = len(events)
            out: list[RecordedEvent] = []
            for e in events[bisect_right(events, after, key=lambda r: r.position) :]:
                if limit is not None and len(out) >= limit:
                    break
                if types is not None and e.type not in types:
                    continue
                if prefix is not None and not e.stream_id.startswith(prefix):
                    continue
                out.append(e)
        return out, horizon

    def audit(self, query: AuditQuery) -> list[RecordedEvent]:
        with self._d.lock:
            events = list(self._d.events)
        out = [
            e
            for e in events
            if (query.actor is None or e.metadata.actor == query.actor)
            and (query.correlation_id is None or e.metadata.correlation_id == query.correlation_id)
            and (query.stream_id is None or e.stream_id == query.stream_id)
            and (query.tenant is None or e.metadata.tenant == query.tenant)
            and (query.since is None or e.recorded_at >= query.since)
            and (query.until is None or e.recorded_at < query.until)
        ]
        return out if query.limit is None else out[: query.limit]

    def stream_version(self, stream_id: str) -> int:
        with self._d.lock:
            return len(self._d.streams.get(stream_id, ()))

    def stats(self) -> StoreStats:
        d = self._d
        with d.lock:
            return StoreStats(len(d.events), len(d.streams), len(d.events), len(d.snapshots))

    def waiter(self) -> SignalWaiter:
        return SignalWaiter(self._d.signal)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._d.lock:
            self._d.snapshots[snapshot.stream_id] = snapshot

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        with self._d.lock:
            return self._d.snapshots.get(stream_id)

    def delete_snapshots(self, stream_prefix: str | None) -> int:
        with self._d.lock:
            doomed = [
                k for k in self._d.snapshots if stream_prefix is None or k.startswith(stream_prefix)
            ]
            for key in doomed:
                del self._d.snapshots[key]
            return len(doomed)

    def checkpoint(self, name: str) -> int:
        with self._d.lock:
            return self._d.checkpoints.get(name, 0)

    def handle(self, name: str, events: Sequence[RecordedEvent], handler: BatchHandler) -> None:
        with self._d.lock:
            handler(events, None)
            if events:
                self._d.checkpoints[name] = events[-1].position

    def reset_checkpoint(self, name: str) -> None:
        with self._d.lock:
            self._d.checkpoints.pop(name, None)

    def last_position(self) -> int:
        with self._d.lock:
            return len(self._d.events)

    def leader(self, name: str) -> LocalLeader:
        return LocalLeader(local_lock(f"{self._url}:{name}"))

    def close(self) -> None:
        return None
