"""Sans-I/O core shared by every backend: validation, encoding, decoding, decisions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from ._context import Ambient
from ._types import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    DuplicateEventId,
    Expected,
    ExpectedVersion,
    Metadata,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    WrongExpectedVersion,
)

MAX_NAME = 1000
COLUMNS = (
    "id, stream_id, version, position, type, data, correlation_id, causation_id, actor, "
    "tenant, schema_version, headers, recorded_at"
)
_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,30}")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_prefix(prefix: str) -> str:
    """Table prefixes are plain lower-case identifiers (they are spliced into SQL)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"table prefix must match [a-z_][a-z0-9_]{{0,30}}: {prefix!r}")
    return prefix


def check_name(kind: str, value: object) -> str:
    """Stream ids and event types: non-empty text without NUL, stored verbatim."""
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_NAME:
        raise ValueError(f"{kind} must have 1 to {MAX_NAME} characters: {value[:40]!r}")
    if "\x00" in value:
        raise ValueError(f"{kind} must not contain NUL characters: {value[:40]!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{kind} is not valid Unicode text: {value[:40]!r}") from None
    return value


def check_expected(expected: object) -> Expected:
    if isinstance(expected, ExpectedVersion):
        return expected
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise ValueError(
        f"expected_version must be ANY, NO_STREAM, STREAM_EXISTS or an int >= 0: {expected!r}"
    )


def _check_json(value: object, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"event data key {path}{key!r} must be a string")
            if not isinstance(item, str | int | float | bool) and item is not None:
                _check_json(item, f"{path}{key}.")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if not isinstance(item, str | int | float | bool) and item is not None:
                _check_json(item, f"{path}{index}.")
    elif not isinstance(value, str | int | float | bool) and value is not None:
        raise TypeError(
            f"event data at {path.rstrip('.') or '<root>'} is not JSON: {type(value).__name__}"
        )


def encode_data(data: object) -> str:
    """JSON text of event data; a clear error for anything that would not round-trip."""
    if not isinstance(data, Mapping):
        raise TypeError(f"event data must be a mapping, got {type(data).__name__}")
    _check_json(dict(data), "")
    try:
        return json.dumps(data if isinstance(data, dict) else dict(data), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"event data is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Prepared:
    """One event ready for storage (version and position are assigned by the backend)."""

    id: uuid.UUID
    type: str
    data: str
    correlation_id: str | None
    causation_id: str | None
    actor: str | None
    tenant: str | None
    schema_version: int
    headers: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Batch:
    stream_id: str
    expected: Expected
    events: tuple[Prepared, ...]


def prepare(appends: Sequence[StreamAppend], ambient: Ambient, now: datetime) -> list[Batch]:
    """Validate and encode a (multi-stream) append before any I/O happens."""
    if now.tzinfo is None:
        raise ValueError("the store clock must return timezone-aware datetimes")
    seen_streams: set[str] = set()
    seen_ids: set[uuid.UUID] = set()
    batches: list[Batch] = []
    for item in appends:
        stream_id = check_name("stream id", item.stream_id)
        if stream_id in seen_streams:
            raise ValueError(f"stream {stream_id!r} appears twice in one append")
        seen_streams.add(stream_id)
        expected = check_expected(item.expected_version)
        prepared: list[Prepared] = []
        for event in item.events:
            if not isinstance(event, NewEvent):
                raise TypeError(f"append takes NewEvent objects, got {type(event).__name__}")
            if event.id in seen_ids:
                raise ValueError(f"event id {event.id} appears twice in one append")
            seen_ids.add(event.id)
            prepared.append(_prepare_event(event, ambient, now))
        batches.append(Batch(stream_id, expected, tuple(prepared)))
    return batches


def _prepare_event(event: NewEvent, ambient: Ambient, now: datetime) -> Prepared:
    meta = event.metadata
    if meta is None:
        meta = Metadata()
    elif not isinstance(meta, Metadata):
        if not isinstance(meta, Mapping):
            raise TypeError("event metadata must be a Metadata or a mapping")
        meta = Metadata.from_mapping(meta)
    headers = dict(meta.headers)
    if ambient.trace_id is not None:
        headers.setdefault("trace_id", ambient.trace_id)
    return Prepared(
        id=event.id,
        type=check_name("event type", event.type),
        data=encode_data(event.data),
        correlation_id=meta.correlation_id if meta.correlation_id else ambient.correlation_id,
        causation_id=meta.causation_id,
        actor=meta.actor if meta.actor is not None else ambient.actor,
        tenant=meta.tenant,
        schema_version=meta.schema_version,
        headers=json.dumps(headers) if headers else "{}",
        recorded_at=now,
    )


def expectation_met(expected: Expected, current: int) -> bool:
    """Whether a stream at ``current`` (0 = no stream) satisfies ``expected``."""
    if expected is ANY:
        return True
    if expected is NO_STREAM:
        return current == 0
    if expected is STREAM_EXISTS:
        return current > 0
    return current == expected


def check_version(batch: Batch, current: int) -> None:
    if not expectation_met(batch.expected, current):
        raise WrongExpectedVersion(batch.stream_id, batch.expected, current)


def replayed(
    batches: Sequence[Batch],
    found: Mapping[uuid.UUID, tuple[str, int, int]],
    current: Mapping[str, int],
) -> list[AppendResult] | None:
    """Decide a conflicting append: ``None`` if genuinely new, the original results if a retry.

    ``found`` maps already stored ids to (stream id, version, position).
    """
    ids = [e.id for b in batches for e in b.events]
    hits = [i for i in ids if i in found]
    if not hits:
        return None
    if len(hits) != len(ids) or any(
        found[e.id][0] != b.stream_id for b in batches for e in b.events
    ):
        raise DuplicateEventId(hits)
    results = []
    for b in batches:
        if not b.events:
            results.append(AppendResult(b.stream_id, current.get(b.stream_id, 0), ()))
            continue
        stored = [found[e.id] for e in b.events]
        results.append(
            AppendResult(b.stream_id, max(s[1] for s in stored), tuple(s[2] for s in stored))
        )
    return results


def all_ids(batches: Sequence[Batch]) -> list[uuid.UUID]:
    return [e.id for b in batches for e in b.events]


def decode_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1_000_000, UTC)
    raise TypeError(f"unexpected recorded_at value {value!r}")


def to_micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def decode_row(row: Sequence[Any]) -> RecordedEvent:
    """A stored row (in :data:`COLUMNS` order) as a :class:`RecordedEvent`."""
    raw_id = row[0]
    headers = row[11]
    return RecordedEvent(
        id=raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(raw_id),
        stream_id=row[1],
        version=row[2],
        position=row[3],
        type=row[4],
        data=cast("dict[str, Any]", json.loads(row[5]) if isinstance(row[5], str) else row[5]),
        metadata=Metadata(
            correlation_id=row[6],
            causation_id=row[7],
            actor=row[8],
            tenant=row[9],
            schema_version=row[10],
            headers=json.loads(headers) if isinstance(headers, str) else dict(headers),
        ),
        recorded_at=decode_time(row[12]),
    )


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    correlation_id: str | None = None
    stream_id: str | None = None
    tenant: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


def check_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be None or an int >= 0: {limit!r}")
    return limit


def check_types(types: Sequence[str] | None) -> tuple[str, ...] | None:
    if types is None:
        return None
    if isinstance(types, str):
        return (types,)
    return tuple(check_name("event type", t) for t in types)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally (escape character is backslash)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
