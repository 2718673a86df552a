"""Build :class:`Flag` and :class:`Segment` objects from plain data (Unleash JSON or ours).

Two document shapes are read: Unleash's ``{"features": [...], "segments": [...]}`` and ours,
``{"flags": {name: spec}, "segments": [...]}`` where a spec may use shorthands (``rollout``,
``users``, ``constraints``, ``overrides``, ``start``/``end``). Every error names the flag and
the field. ``strict`` (our files) also rejects unknown keys and operators; Unleash documents
are read leniently, as Unleash's SDKs do (an unknown operator never matches).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from ._model import (
    OPERATORS,
    Constraint,
    Dependency,
    Flag,
    FlagDefinitionError,
    Segment,
    Strategy,
    VariantDefinition,
    VariantOverride,
)
from ._types import Payload

__all__ = ["parse_document", "parse_flag", "parse_segment"]

_FLAG_KEYS = frozenset(
    {
        "name",
        "description",
        "type",
        "enabled",
        "strategies",
        "variants",
        "dependencies",
        "overrides",
        "start",
        "end",
        "impressionData",
        "impression_data",
        "rollout",
        "stickiness",
        "group_id",
        "users",
        "constraints",
        "segments",
        "depends_on",
    }
)


class _Err(Exception):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _mapping(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _Err(path, f"expected a mapping, got {type(value).__name__}")
    return cast(Mapping[str, object], value)


def _list(value: object, path: str) -> Sequence[object]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _Err(path, f"expected a list, got {type(value).__name__}")
    return value


def _text(value: object, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Err(path, f"expected a string, got {type(value).__name__}")
    return str(value)


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Err(path, f"expected true or false, got {value!r}")
    return value


def _pick(data: Mapping[str, object], *keys: str) -> object:
    for key in keys:
        if key in data:
            return data[key]
    return None


def _constraint(data: object, path: str, strict: bool) -> Constraint:
    raw = _mapping(data, path)
    name = _pick(raw, "contextName", "context_name", "context")
    if name is None:
        raise _Err(path + ".contextName", "is required")
    operator = _text(_pick(raw, "operator") or "", path + ".operator").upper()
    if strict and operator not in OPERATORS:
        raise _Err(path + ".operator", f"unknown operator {operator!r}")
    values = tuple(
        _text(v, f"{path}.values[{i}]") for i, v in enumerate(_list(raw.get("values"), path))
    )
    value = raw.get("value")
    inverted = raw.get("inverted") or False
    insensitive = _pick(raw, "caseInsensitive", "case_insensitive") or False
    return Constraint(
        context_name=_text(name, path + ".contextName"),
        operator=operator,
        values=values,
        value=None if value is None else _text(value, path + ".value"),
        inverted=_bool(inverted, path + ".inverted"),
        case_insensitive=_bool(insensitive, path + ".caseInsensitive"),
    )


def _constraints(data: object, path: str, strict: bool) -> tuple[Constraint, ...]:
    return tuple(
        _constraint(item, f"{path}[{i}]", strict) for i, item in enumerate(_list(data, path))
    )


def _payload(data: object, path: str) -> Payload | None:
    if data is None:
        return None
    if isinstance(data, Mapping) and set(data) == {"type", "value"}:
        kind = _text(data["type"], path + ".type")
        return Payload(kind, _text(data["value"], path + ".value"))
    if isinstance(data, (bool, Mapping | list)):
        return Payload("json", json.dumps(data))
    if isinstance(data, int | float):
        return Payload("number", str(data))
    return Payload("string", _text(data, path))


def _variant(data: object, path: str) -> VariantDefinition:
    raw = _mapping(data, path)
    if "name" not in raw:
        raise _Err(path + ".name", "is required")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise _Err(path + ".weight", f"expected a non-negative number, got {weight!r}")
    overrides = tuple(
        VariantOverride(
            _text(
                _pick(_mapping(o, f"{path}.overrides[{i}]"), "contextName", "context_name"),
                f"{path}.overrides[{i}].contextName",
            ),
            tuple(
                _text(v, f"{path}.overrides[{i}].values")
                for v in _list(_mapping(o, path).get("values"), f"{path}.overrides[{i}]")
            ),
        )
        for i, o in enumerate(_list(raw.get("overrides"), path + ".overrides"))
    )
    stickiness = raw.get("stickiness")
    return VariantDefinition(
        name=_text(raw["name"], path + ".name"),
        weight=int(weight),
        stickiness=None if stickiness is None else _text(stickiness, path + ".stickiness"),
        payload=_payload(raw.get("payload"), path + ".payload"),
        overrides=overrides,
    )


def _variants(data: object, path: str) -> tuple[VariantDefinition, ...]:
    return tuple(_variant(item, f"{path}[{i}]") for i, item in enumerate(_list(data, path)))


def _segment_ids(data: object, path: str) -> tuple[int, ...]:
    out: list[int] = []
    for i, item in enumerate(_list(data, path)):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise _Err(f"{path}[{i}]", f"expected a segment id, got {item!r}")
        try:
            out.append(int(item))
        except ValueError:
            raise _Err(f"{path}[{i}]", f"expected a segment id, got {item!r}") from None
    return tuple(out)


def _strategy(data: object, path: str, strict: bool) -> Strategy:
    raw = _mapping(data, path)
    params = _mapping(raw.get("parameters") or {}, path + ".parameters")
    return Strategy(
        name=_text(raw.get("name", "default"), path + ".name"),
        parameters={
            _text(k, path + ".parameters"): _text(v, f"{path}.parameters.{k}")
            for k, v in params.items()
        },
        constraints=_constraints(raw.get("constraints"), path + ".constraints", strict),
        segments=_segment_ids(raw.get("segments"), path + ".segments"),
        variants=_variants(raw.get("variants"), path + ".variants"),
        disabled=_bool(raw.get("disabled") or False, path + ".disabled"),
    )


def _moment(value: object, path: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(_text(value, path))
        except ValueError:
            raise _Err(path, f"not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise _Err(path, f"needs a timezone (e.g. 2026-01-01T00:00:00Z), got {value!r}")
    return moment


def _dependency(data: object, path: str) -> Dependency:
    if isinstance(data, str):
        return Dependency(data)
    raw = _mapping(data, path)
    if "feature" not in raw:
        raise _Err(path + ".feature", "is required")
    return Dependency(
        feature=_text(raw["feature"], path + ".feature"),
        enabled=_bool(raw.get("enabled", True), path + ".enabled"),
        variants=tuple(_text(v, path + ".variants") for v in _list(raw.get("variants"), path)),
    )


def _shorthand(name: str, raw: Mapping[str, object], strict: bool) -> list[Strategy]:
    constraints = _constraints(raw.get("constraints"), "constraints", strict)
    segments = _segment_ids(raw.get("segments"), "segments")
    out: list[Strategy] = []
    if "users" in raw:
        users = [_text(u, "users") for u in _list(raw["users"], "users")]
        out.append(Strategy("userWithId", {"userIds": ",".join(users)}, constraints, segments))
    if "rollout" in raw:
        rollout = raw["rollout"]
        if isinstance(rollout, bool) or not isinstance(rollout, int | float):
            raise _Err("rollout", f"expected a percentage 0-100, got {rollout!r}")
        if not 0 <= rollout <= 100:
            raise _Err("rollout", f"expected a percentage 0-100, got {rollout!r}")
        params = {
            "rollout": str(rollout),
            "stickiness": _text(raw.get("stickiness", "default"), "stickiness"),
            "groupId": _text(raw.get("group_id", name), "group_id"),
        }
        out.append(Strategy("flexibleRollout", params, constraints, segments))
    if not out and (constraints or segments):
        out.append(Strategy("default", {}, constraints, segments))
    return out


def _overrides(data: object) -> dict[str, bool]:
    raw = _mapping(data or {}, "overrides")
    return {_text(k, "overrides"): _bool(v, f"overrides.{k}") for k, v in raw.items()}


def _flag(name: str, raw: Mapping[str, object], strict: bool) -> Flag:
    if strict:
        unknown = sorted(set(raw) - _FLAG_KEYS)
        if unknown:
            raise _Err(unknown[0], "unknown field")
    strategies = [
        _strategy(item, f"strategies[{i}]", strict)
        for i, item in enumerate(_list(raw.get("strategies"), "strategies"))
    ]
    strategies.extend(_shorthand(name, raw, strict))
    deps = _pick(raw, "dependencies", "depends_on")
    impression = _pick(raw, "impressionData", "impression_data") or False
    return Flag(
        name=name,
        enabled=_bool(raw.get("enabled", True), "enabled"),
        strategies=tuple(strategies),
        variants=_variants(raw.get("variants"), "variants"),
        dependencies=tuple(
            _dependency(d, f"dependencies[{i}]") for i, d in enumerate(_list(deps, "dependencies"))
        ),
        overrides=_overrides(raw.get("overrides")),
        start=_moment(raw.get("start"), "start"),
        end=_moment(raw.get("end"), "end"),
        description=_text(raw.get("description") or "", "description"),
        type=_text(raw.get("type") or "release", "type"),
        impression_data=_bool(impression, "impressionData"),
    )


def parse_flag(name: str, data: object, *, strict: bool = True) -> Flag:
    """One flag from a spec mapping; raises :class:`FlagDefinitionError` naming the field."""
    try:
        flag = _flag(name, _mapping(data, ""), strict)
    except _Err as err:
        raise FlagDefinitionError(name, err.path, err.reason) from None
    if flag.start is not None and flag.end is not None and flag.end <= flag.start:
        raise FlagDefinitionError(name, "end", "must be after start")
    return flag


def parse_segment(data: object, path: str = "segments", *, strict: bool = True) -> Segment:
    """One segment ``{id, constraints}``."""
    try:
        raw = _mapping(data, path)
        if "id" not in raw:
            raise _Err(path + ".id", "is required")
        ident = _segment_ids([raw["id"]], path + ".id")[0]
        return Segment(
            id=ident,
            constraints=_constraints(raw.get("constraints"), path + ".constraints", strict),
            name=_text(raw.get("name") or "", path + ".name"),
        )
    except _Err as err:
        raise FlagDefinitionError(None, err.path, err.reason) from None


def parse_document(
    data: object, *, strict: bool | None = None
) -> tuple[dict[str, Flag], dict[int, Segment]]:
    """Flags and segments of an Unleash document or of ours (detected by its keys)."""
    if not isinstance(data, Mapping):
        raise FlagDefinitionError(None, "", f"expected a mapping, got {type(data).__name__}")
    flags: dict[str, Flag] = {}
    if "features" in data:
        is_strict = False if strict is None else strict
        try:
            features = _list(data["features"], "features")
        except _Err as err:
            raise FlagDefinitionError(None, err.path, err.reason) from None
        for i, item in enumerate(features):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise FlagDefinitionError(None, f"features[{i}].name", "is required")
            flags[item["name"]] = parse_flag(item["name"], item, strict=is_strict)
    else:
        is_strict = True if strict is None else strict
        unknown = sorted(set(data) - {"flags", "segments", "version"})
        if is_strict and unknown:
            raise FlagDefinitionError(None, unknown[0], "unknown top-level key")
        raw_flags = data.get("flags") or {}
        if isinstance(raw_flags, Mapping):
            for name, spec in raw_flags.items():
                if not isinstance(name, str):
                    raise FlagDefinitionError(
                        str(name),
                        "name",
                        f"flag names must be text, got {type(name).__name__} "
                        "(in YAML, quote names such as on, off, yes, no)",
                    )
                flags[name] = parse_flag(name, spec, strict=is_strict)
        else:
            try:
                items = _list(raw_flags, "flags")
            except _Err as err:
                raise FlagDefinitionError(None, err.path, err.reason) from None
            for i, spec in enumerate(items):
                if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                    raise FlagDefinitionError(None, f"flags[{i}].name", "is required")
                flags[spec["name"]] = parse_flag(spec["name"], spec, strict=is_strict)
    segments: dict[int, Segment] = {}
    try:
        raw_segments = _list(data.get("segments"), "segments")
    except _Err as err:
        raise FlagDefinitionError(None, err.path, err.reason) from None
    for i, item in enumerate(raw_segments):
        segment = parse_segment(item, f"segments[{i}]", strict=is_strict)
        segments[segment.id] = segment
    return flags, segments
