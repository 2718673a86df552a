"""Value types of the event store: new and recorded events, metadata, results, errors."""

from __future__ import annotations

import enum
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = "dict[str, JSONValue]"


class ExpectedVersion(enum.Enum):
    """Symbolic expected versions; an ``int`` is an exact stream version."""

    ANY = "any"
    NO_STREAM = "no_stream"
    STREAM_EXISTS = "stream_exists"

    def __repr__(self) -> str:
        return self.name


ANY: Final = ExpectedVersion.ANY
NO_STREAM: Final = ExpectedVersion.NO_STREAM
STREAM_EXISTS: Final = ExpectedVersion.STREAM_EXISTS

Expected: TypeAlias = "ExpectedVersion | int"


@dataclass(frozen=True, slots=True)
class Metadata:
    """The metadata envelope; every field except ``headers`` is a queryable column.

    Unset ``correlation_id`` and ``actor`` are filled at append time from the request
    context (request id, then the trace id) and from :func:`set_actor`.
    """

    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    tenant: str | None = None
    schema_version: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Metadata:
        """Build from a mapping: known keys become fields, others become string headers.

        ``user_id``/``userId`` are accepted as ``actor`` and ``correlationId``/``causationId``
        as their snake_case names.
        """
        aliases = {
            "userId": "actor",
            "user_id": "actor",
            "correlationId": "correlation_id",
            "causationId": "causation_id",
            "schemaVersion": "schema_version",
        }
        known: dict[str, object] = {}
        headers: dict[str, str] = {}
        for key, value in values.items():
            if not isinstance(key, str):
                raise TypeError(f"metadata keys must be strings, got {key!r}")
            name = aliases.get(key, key)
            if name == "headers":
                if not isinstance(value, Mapping):
                    raise TypeError("metadata 'headers' must be a mapping of strings")
                headers.update({str(k): _header_value(k, v) for k, v in value.items()})
            elif name in ("correlation_id", "causation_id", "actor", "tenant"):
                if value is not None and not isinstance(value, str | uuid.UUID | int):
                    raise TypeError(f"metadata {key!r} must be a string, got {value!r}")
                known[name] = None if value is None else str(value)
            elif name == "schema_version":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"metadata schema_version must be an int >= 1: {value!r}")
                known[name] = value
            else:
                headers[key] = _header_value(key, value)
        return cls(
            correlation_id=_opt_str(known.get("correlation_id")),
            causation_id=_opt_str(known.get("causation_id")),
            actor=_opt_str(known.get("actor")),
            tenant=_opt_str(known.get("tenant")),
            schema_version=int(str(known.get("schema_version", 1))),
            headers=headers,
        )

    def as_dict(self) -> dict[str, object]:
        """The envelope as a plain dictionary (for JSON output)."""
        return {
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "actor": self.actor,
            "tenant": self.tenant,
            "schema_version": self.schema_version,
            "headers": dict(self.headers),
        }


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _header_value(key: object, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | uuid.UUID):
        return str(value)
    raise TypeError(f"metadata header {key!r} must be a string or a number, got {value!r}")


_SAFE = uuid.SafeUUID.unknown
# Version 7 and the RFC 4122 variant over 48 bits of milliseconds and 80 random bits.
_V7_CLEAR = ~((0xF << 76) | (0b11 << 62))
_V7_SET = (0x7 << 76) | (0b10 << 62)
_new_object = object.__new__
_set_uuid_int = uuid.UUID.__dict__["int"].__set__
_set_uuid_safe = uuid.UUID.__dict__["is_safe"].__set__


# The random low 80 bits of event ids (version and variant bits already set), drawn from
# the operating system 256 ids at a time: one system call per id was a third of building
# a NewEvent. list.pop is atomic, so threads never share bits; a forked child drops what
# it inherited, or it would repeat its parent's ids.
_RANDOM: list[int] = []
_RANDOM_BATCH = 256
_STARTS = range(0, 10 * _RANDOM_BATCH, 10)
_pop_random = _RANDOM.pop
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RANDOM.clear)


def _draw_random() -> int:
    raw = os.urandom(10 * _RANDOM_BATCH)
    _RANDOM.extend([int.from_bytes(raw[i : i + 10]) & _V7_CLEAR | _V7_SET for i in _STARTS])
    return _pop_random()


def new_event_id() -> uuid.UUID:
    """A time-ordered random UUID (version 7, RFC 9562): unix milliseconds, 74 random bits.

    Ids drawn one after the other sort close together, so the stores' unique index on the
    id grows at its end instead of touching a random page per event. The random bits come
    from the operating system (``os.urandom``).
    """
    try:
        bits = _pop_random()
    except IndexError:
        bits = _draw_random()
    value = _new_object(uuid.UUID)
    _set_uuid_int(value, time.time_ns() // 1_000_000 << 80 | bits)
    _set_uuid_safe(value, _SAFE)
    return value


_NO_DATA: Any = object()  # NewEvent() without data: a fresh empty dict


@dataclass(frozen=True, slots=True, init=False)
class NewEvent:
    """An event to append: ``type``, JSON ``data``, optional metadata and UUID ``id``.

    The ``id`` makes appends idempotent: appending an id that is already stored returns
    the original result instead of storing the event twice. ``id=None`` (or leaving it
    out) draws a new time-ordered random one (:func:`new_event_id`); a UUID string is
    accepted.
    """

    type: str
    data: Mapping[str, object] = field(default_factory=dict)
    metadata: Metadata | Mapping[str, object] | None = None
    id: uuid.UUID = field(default_factory=new_event_id)

    def __init__(
        self,
        type: str,
        data: Mapping[str, object] = _NO_DATA,
        metadata: Metadata | Mapping[str, object] | None = None,
        id: uuid.UUID | None = None,
    ) -> None:
        # Written by hand (the generated one costs twice as much): appends build many.
        _set_type(self, type)
        _set_data(self, {} if data is _NO_DATA else data)
        _set_metadata(self, metadata)
        raw: object = id
        if raw is None:
            raw = new_event_id()
        elif raw.__class__ is not uuid.UUID:
            if isinstance(raw, str):
                raw = uuid.UUID(raw)
            elif not isinstance(raw, uuid.UUID):
                raise TypeError(f"event id must be a UUID, got {raw!r}")
        _set_id(self, raw)


_set_type = NewEvent.__dict__["type"].__set__
_set_data = NewEvent.__dict__["data"].__set__
_set_metadata = NewEvent.__dict__["metadata"].__set__
_set_id = NewEvent.__dict__["id"].__set__


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A stored event: its stream, 1-based stream ``version`` and global ``position``.

    Events read from a store keep ``id``, ``data``, ``metadata`` and ``recorded_at`` in
    their stored form until first accessed, then decode them once and keep the result.
    """

    id: uuid.UUID
    stream_id: str
    version: int
    position: int
    type: str
    data: JSONObject
    metadata: Metadata
    recorded_at: datetime


# -- lazily decoded fields of RecordedEvent ----------------------------------------------
# Stores build events with the stored forms in the slots: the id as 16 bytes or text,
# data as JSON text, metadata as None (the defaults) or the JSON text of
# [correlation_id, causation_id, actor, tenant, schema_version, headers], recorded_at as
# integer microseconds since the epoch. Each of these fields becomes a property over its
# slot that decodes the stored form on first access and stores the result back; the
# dataclass machinery (__init__, __eq__, __repr__, pickling, replace) goes through the
# properties and sees decoded values only.
_EMPTY_METADATA = Metadata()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCAN: Callable[[str, int], tuple[Any, int]]
try:
    from _json import make_scanner
except ImportError:  # pragma: no cover - an interpreter without the C accelerator
    _SCAN = json.JSONDecoder().raw_decode
else:
    # The C scanner behind json.loads, without its whitespace handling (stored JSON is ours).
    _SCAN = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def load_json(text: str) -> Any:
    """Decode stored JSON text: the C scanner straight away, ``json.loads`` if it balks."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)  # raises the usual error for text that is not JSON
    return value if end == len(text) else json.loads(text)


def _slot(name: str) -> tuple[Callable[[RecordedEvent], Any], Callable[[RecordedEvent, Any], None]]:
    descriptor = RecordedEvent.__dict__[name]
    return descriptor.__get__, descriptor.__set__


_get_id_slot, _set_id_slot = _slot("id")
_get_data_slot, _set_data_slot = _slot("data")
_get_meta_slot, _set_meta_slot = _slot("metadata")
_get_at_slot, _set_at_slot = _slot("recorded_at")


def _event_id(self: RecordedEvent) -> uuid.UUID:
    value = _get_id_slot(self)
    if value.__class__ is bytes:
        raw = int.from_bytes(value)
    elif value.__class__ is str:
        raw = int(value.replace("-", ""), 16)
    else:
        return value  # type: ignore[no-any-return]
    decoded = _new_object(uuid.UUID)
    _set_uuid_int(decoded, raw)
    _set_uuid_safe(decoded, _SAFE)
    _set_id_slot(self, decoded)
    return decoded


def _event_data(self: RecordedEvent) -> JSONObject:
    value = _get_data_slot(self)
    if value.__class__ is str:
        try:
            decoded, end = _SCAN(value, 0)
        except (StopIteration, ValueError):
            end = -1
        if end != len(value):
            decoded = json.loads(value)
        _set_data_slot(self, decoded)
        return decoded  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def _event_metadata(self: RecordedEvent) -> Metadata:
    value = _get_meta_slot(self)
    if value is None:
        return _EMPTY_METADATA
    if value.__class__ is str:
        correlation_id, causation_id, actor, tenant, schema_version, headers = load_json(value)
        decoded = Metadata(correlation_id, causation_id, actor, tenant, schema_version, headers)
        _set_meta_slot(self, decoded)
        return decoded
    return value  # type: ignore[no-any-return]


def _event_recorded_at(self: RecordedEvent) -> datetime:
    value = _get_at_slot(self)
    if value.__class__ is int:
        decoded = _EPOCH + timedelta(microseconds=value)
        _set_at_slot(self, decoded)
        return decoded
    return value  # type: ignore[no-any-return]


for _name, _getter, _setter in (
    ("id", _event_id, _set_id_slot),
    ("data", _event_data, _set_data_slot),
    ("metadata", _event_metadata, _set_meta_slot),
    ("recorded_at", _event_recorded_at, _set_at_slot),
):
    type.__setattr__(RecordedEvent, _name, property(_getter, _setter, doc=None))


class RecordedRow:
    """The slot layout of :class:`RecordedEvent` without its frozen ``__setattr__``.

    Stores fill one with plain attribute stores (the fastest way to set slots), then turn
    it into a :class:`RecordedEvent` by assigning ``__class__``: same slots, same layout.
    """

    __slots__ = RecordedEvent.__slots__
    id: Any
    stream_id: str
    version: int
    position: int
    type: str
    data: Any
    metadata: Any
    recorded_at: Any


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of appending to one stream: its new version and the events' positions."""

    stream_id: str
    version: int
    positions: tuple[int, ...]

    @property
    def position(self) -> int:
        """The position of the last appended event (0 when nothing was appended)."""
        return self.positions[-1] if self.positions else 0


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of a multi-stream atomic append."""

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: Expected = ANY


class EventStoreError(Exception):
    """Base class of event store errors."""


class WrongExpectedVersion(EventStoreError):
    """The stream was not at the expected version; nothing was appended."""

    def __init__(self, stream_id: str, expected: Expected, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r}: expected version {expected!r}, actual version {actual}"
        )


class DuplicateEventId(EventStoreError):
    """Some (not all) of the appended event ids are already stored elsewhere."""

    def __init__(self, ids: Sequence[uuid.UUID]) -> None:
        self.ids = tuple(ids)
        super().__init__(
            "event ids already stored by a different append: "
            + ", ".join(str(i) for i in self.ids[:5])
        )
