"""Sans-I/O core shared by every backend: validation, encoding, decoding, decisions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import attrgetter
from typing import Any, NamedTuple

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
    RecordedRow,
    StreamAppend,
    WrongExpectedVersion,
)

MAX_NAME = 1000
# The stored columns of an event.
COLUMNS = (
    "id, stream_id, version, position, type, data, correlation_id, causation_id, actor, "
    "tenant, schema_version, headers, recorded_at"
)
_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,30}")
Clock = Callable[[], datetime]


def _not_json(value: object) -> object:
    raise TypeError(f"event data is not JSON: {type(value).__name__}")


# The C encoder that json.dumps builds on every call, built once (same output: ASCII, ", "
# and ": " separators; NaN refused). Cycles are caught by _check_json, which runs first.
_ENCODE: Callable[[object, int], Sequence[str]]
try:
    from _json import encode_basestring_ascii, make_encoder
except ImportError:  # pragma: no cover - an interpreter without the C accelerator
    _PY_ENCODER = json.JSONEncoder(allow_nan=False, default=_not_json)
    _ENCODE = lambda value, _level: (_PY_ENCODER.encode(value),)  # noqa: E731
else:
    _ENCODE = make_encoder(
        None, _not_json, encode_basestring_ascii, None, ": ", ", ", False, False, False
    )
_EMPTY_META = Metadata()
_SAFE = uuid.SafeUUID.unknown
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_new_object = object.__new__
_set_uuid_int = uuid.UUID.__dict__["int"].__set__
_set_uuid_safe = uuid.UUID.__dict__["is_safe"].__set__


def uuid_from_bytes(raw: bytes) -> uuid.UUID:
    """A UUID from its 16 stored bytes."""
    value = _new_object(uuid.UUID)
    _set_uuid_int(value, int.from_bytes(raw))
    _set_uuid_safe(value, _SAFE)
    return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_prefix(prefix: str) -> str:
    """Table prefixes are plain lower-case identifiers (they are spliced into SQL)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"table prefix must match [a-z_][a-z0-9_]{{0,30}}: {prefix!r}")
    return prefix


_CHECKED: dict[str, None] = {}


def check_name(kind: str, value: object) -> str:
    """Stream ids and event types: non-empty text without NUL, stored verbatim."""
    if type(value) is str and value in _CHECKED:
        return value
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
    if len(_CHECKED) < 4096 and len(value) < 200:
        _CHECKED[value] = None
    return value


def _check_meta_text(name: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > MAX_NAME or "\x00" in value:
        raise ValueError(f"metadata {name} must be text without NUL, at most {MAX_NAME} long")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"metadata {name} is not valid Unicode text: {value[:40]!r}") from None


def check_expected(expected: object) -> Expected:
    if isinstance(expected, ExpectedVersion):
        return expected
    if isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0:
        return expected
    raise ValueError(
        f"expected_version must be ANY, NO_STREAM, STREAM_EXISTS or an int >= 0: {expected!r}"
    )


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _check_json(value: object, path: str) -> None:
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"event data key {path}{key!r} must be a string")
            if type(item) not in _SCALARS:
                _check_json(item, f"{path}{key}.")
    elif isinstance(value, dict):
        _check_json(dict(value), path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if type(item) not in _SCALARS:
                _check_json(item, f"{path}{index}.")
    elif not isinstance(value, str | int | float | bool) and value is not None:
        raise TypeError(
            f"event data at {path.rstrip('.') or '<root>'} is not JSON: {type(value).__name__}"
        )


def encode_data(data: object) -> str:
    """JSON text of event data; a clear error for anything that would not round-trip."""
    if type(data) is dict:
        plain: dict[Any, Any] = data
    elif isinstance(data, Mapping):
        plain = dict(data)
    else:
        raise TypeError(f"event data must be a mapping, got {type(data).__name__}")
    try:
        _check_json(plain, "")
        text: str = "".join(_ENCODE(plain, 0))
    except ValueError as exc:
        raise ValueError(f"event data is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("event data is circular or nested too deeply") from None
    if "\\ud" in text or "\\uD" in text:
        _check_unicode(plain)
    return text


_DICT_ONLY = {dict}
_STR_ONLY = {str}
_join = "".join


def _encode_many(values: list[Any]) -> list[str] | None:
    """:func:`encode_data` of many values, with the checks of flat dictionaries made at C
    speed over the whole batch; ``None`` where that does not apply or something is wrong
    (:func:`encode_data`, one value at a time, then says what)."""
    if set(map(type, values)) != _DICT_ONLY or not (
        set(map(type, chain.from_iterable(values))) <= _STR_ONLY
    ):
        return None
    try:
        if not set(map(type, chain.from_iterable(map(dict.values, values)))) <= _SCALARS:
            for value in values:  # nested values: checked the usual way
                _check_json(value, "")
        texts = list(map(_join, map(_ENCODE, values, repeat(0))))
    except (ValueError, RecursionError):
        return None
    joined = "".join(texts)
    if "\\ud" in joined or "\\uD" in joined:
        return None
    return texts


def _check_unicode(value: object) -> None:
    """Lone surrogates are not text: PostgreSQL would refuse them, so every backend does."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"event data holds invalid Unicode text: {value[:40]!r}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_unicode(item)


class Prepared(NamedTuple):
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
    recorded_micros: int


_new_tuple = tuple.__new__


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
    seen_ids: set[int] = set()
    batches: list[Batch] = []
    micros = to_micros(now)
    # Without metadata an event takes the ambient defaults: the same for the whole append.
    plain_headers = (
        "{}" if ambient.trace_id is None else encode_data({"trace_id": ambient.trace_id})
    )
    plain_meta = (ambient.correlation_id, None, ambient.actor, None, 1, plain_headers)
    for item in appends:
        stream_id = check_name("stream id", item.stream_id)
        if stream_id in seen_streams:
            raise ValueError(f"stream {stream_id!r} appears twice in one append")
        seen_streams.add(stream_id)
        expected = check_expected(item.expected_version)
        events = item.events
        prepared = None
        if len(events) > 1:
            try:
                prepared = _prepare_plain(events, seen_ids, plain_meta, now, micros)
            except (TypeError, ValueError):
                prepared = None  # the loop below reports the first bad event
        if prepared is None:
            prepared = _prepare_each(events, seen_ids, ambient, plain_meta, now, micros)
        batches.append(Batch(stream_id, expected, prepared))
    return batches


def _prepare_each(
    events: Sequence[NewEvent],
    seen_ids: set[int],
    ambient: Ambient,
    plain_meta: tuple[object, ...],
    now: datetime,
    micros: int,
) -> tuple[Prepared, ...]:
    prepared: list[Prepared] = []
    for event in events:
        if event.__class__ is not NewEvent and not isinstance(event, NewEvent):
            raise TypeError(f"append takes NewEvent objects, got {type(event).__name__}")
        key = event.id.int
        if key in seen_ids:
            raise ValueError(f"event id {event.id} appears twice in one append")
        seen_ids.add(key)
        if event.metadata is None:
            prepared.append(
                _new_tuple(
                    Prepared,
                    (
                        event.id,
                        check_name("event type", event.type),
                        encode_data(event.data),
                        *plain_meta,
                        now,
                        micros,
                    ),
                )
            )
        else:
            prepared.append(_prepare_event(event, ambient, now, micros))
    return tuple(prepared)


_get_id = attrgetter("id")
_get_int = attrgetter("int")
_get_type = attrgetter("type")
_get_data = attrgetter("data")
_get_metadata = attrgetter("metadata")


def _prepare_plain(
    events: Sequence[NewEvent],
    seen_ids: set[int],
    plain_meta: tuple[object, ...],
    now: datetime,
    micros: int,
) -> tuple[Prepared, ...] | None:
    """Events without metadata (the usual batch), column by column at C speed.

    ``None`` when the fast path does not apply; any error is left to :func:`_prepare_each`
    (called next), which reports the first bad event.
    """
    n = len(events)
    if set(map(type, events)) != {NewEvent} or list(map(_get_metadata, events)).count(None) != n:
        return None
    ids = list(map(_get_id, events))
    keys = set(map(_get_int, ids))
    if len(keys) != n or not keys.isdisjoint(seen_ids):
        return None
    types = list(map(_get_type, events))
    for name in set(types):
        check_name("event type", name)
    data = _encode_many(list(map(_get_data, events)))
    if data is None:
        return None
    seen_ids |= keys
    columns = zip(
        ids, types, data, *(repeat(v, n) for v in (*plain_meta, now, micros)), strict=True
    )
    return tuple(map(_new_tuple, repeat(Prepared, n), columns))


def _prepare_event(event: NewEvent, ambient: Ambient, now: datetime, micros: int) -> Prepared:
    meta = event.metadata
    if meta is None:
        meta = _EMPTY_META
    elif not isinstance(meta, Metadata):
        if not isinstance(meta, Mapping):
            raise TypeError("event metadata must be a Metadata or a mapping")
        meta = Metadata.from_mapping(meta)
    if meta is not _EMPTY_META:
        for field_name in ("correlation_id", "causation_id", "actor", "tenant"):
            _check_meta_text(field_name, getattr(meta, field_name))
    if ambient.trace_id is not None and "trace_id" not in meta.headers:
        headers = encode_data({**meta.headers, "trace_id": ambient.trace_id})
    elif meta.headers:
        headers = encode_data(dict(meta.headers))
    else:
        headers = "{}"
    return Prepared(
        event.id,
        check_name("event type", event.type),
        encode_data(event.data),
        meta.correlation_id if meta.correlation_id else ambient.correlation_id,
        meta.causation_id,
        meta.actor if meta.actor is not None else ambient.actor,
        meta.tenant,
        meta.schema_version,
        headers,
        now,
        micros,
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


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def metadata_select(flavour: str) -> str:
    """The SQL expression reading the metadata columns as one value: NULL when they hold
    the defaults (the usual case), else the JSON text of [correlation_id, causation_id,
    actor, tenant, schema_version, headers] (``flavour`` "sqlite" or "postgresql")."""
    if flavour == "sqlite":
        array = (
            "json_array(correlation_id, causation_id, actor, tenant, schema_version, json(headers))"
        )
        headers = "headers"
    else:
        array = (
            "json_build_array(correlation_id, causation_id, actor, tenant, schema_version, "
            "headers)::text"
        )
        headers = "headers::text"
    return (
        "CASE WHEN coalesce(correlation_id, causation_id, actor, tenant) IS NULL "
        f"AND schema_version = 1 AND {headers} = '{{}}' THEN NULL ELSE {array} END"
    )


def decode_rows(rows: Iterable[Sequence[Any]]) -> list[RecordedEvent]:
    """Stored rows as :class:`RecordedEvent` objects, their fields still in stored form.

    A row is (id, stream_id, version, position, type, data, metadata, recorded_at): the id
    as 16 bytes or text, data as JSON text, metadata as :func:`metadata_select` gives it,
    recorded_at as integer microseconds. ``RecordedEvent`` decodes them on first access.
    Each object is filled as a :class:`RecordedRow` (plain slot stores) and then given
    its class: a third of the cost of calling the slot setters one by one.
    """
    out: list[Any] = []
    append = out.append
    new = _new_object
    row_class = RecordedRow
    event_class = RecordedEvent
    for row in rows:
        e = new(row_class)
        (
            e.id,
            e.stream_id,
            e.version,
            e.position,
            e.type,
            e.data,
            e.metadata,
            e.recorded_at,
        ) = row
        e.__class__ = event_class  # type: ignore[assignment]
        append(e)
    return out


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
