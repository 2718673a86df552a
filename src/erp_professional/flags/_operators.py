"""Constraint operators compiled to predicates over a context (Unleash's semantics)."""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime

from ._context import ALIASES, Context, Getter, getter, parse_time, text
from ._model import Constraint
from ._re2 import compile_re2

__all__ = ["Clock", "Predicate", "compile_constraint", "ip_networks", "parse_semver"]

Predicate = Callable[[Context], bool]
Clock = Callable[[], datetime]
SemverKey = tuple[int, int, int, tuple[tuple[int, int | str], ...]]

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def parse_semver(text: str) -> SemverKey | None:
    """A sort key for a strict semver 2.0 version (no leading ``v``), or None."""
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        # a release sorts after all of its pre-releases
        key: tuple[tuple[int, int | str], ...] = ((2, 0),)
    else:
        key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), key


def _never(ctx: Context) -> bool:
    return False


def _unknown(ctx: Context) -> bool:
    return False


def _strings(c: Constraint, get: Getter) -> Predicate:
    values = tuple(v.lower() for v in c.values) if c.case_insensitive else c.values
    insensitive = c.case_insensitive
    op = c.operator

    def test(ctx: Context) -> bool:
        value = get(ctx)
        if value is None:
            return False
        if insensitive:
            value = value.lower()
        if op == "STR_STARTS_WITH":
            return any(value.startswith(v) for v in values)
        if op == "STR_ENDS_WITH":
            return any(value.endswith(v) for v in values)
        return any(v in value for v in values)

    return test


def _in_folded(c: Constraint, get: Getter, negate: bool) -> Predicate:
    values = frozenset(v.lower() for v in c.values)

    def test(ctx: Context) -> bool:
        value = get(ctx)
        return (value is not None and value.lower() in values) is not negate

    return test


def _in(c: Constraint, get: Getter, negate: bool, plain: bool) -> Predicate:
    if c.case_insensitive:
        return _in_folded(c, get, negate)
    values = frozenset(c.values)  # only text: a missing field (None) is never in it
    if not plain:
        if negate:
            return lambda ctx: get(ctx) not in values
        return lambda ctx: get(ctx) in values
    field = c.context_name
    miss = negate

    # the context lookup inlined (no alias, no static value): IN is the most common operator
    def test(ctx: Context) -> bool:
        value = ctx.get(field)
        if value is None:
            props = ctx.get("properties")
            if props is None or (props.__class__ is not dict and not isinstance(props, Mapping)):
                return miss
            value = props.get(field)
            if value is None:
                return miss
        if value.__class__ is not str:
            value = text(value)
        return (value in values) is not negate

    return test


_NUM: dict[str, Callable[[float, float], bool]] = {
    "NUM_EQ": operator.eq,
    "NUM_GT": operator.gt,
    "NUM_GTE": operator.ge,
    "NUM_LT": operator.lt,
    "NUM_LTE": operator.le,
}


def _number(c: Constraint, get: Getter) -> Predicate:
    try:
        target = float(c.value if c.value is not None else (c.values[0] if c.values else ""))
    except ValueError:
        return _never
    compare = _NUM[c.operator]

    def test(ctx: Context) -> bool:
        value = get(ctx)
        if value is None or value != value.strip() or "_" in value:
            return False
        try:
            number = float(value)
        except ValueError:
            return False
        return compare(number, target)

    return test


def _date(c: Constraint, clock: Clock) -> Predicate:
    target = parse_time(c.value if c.value is not None else (c.values[0] if c.values else ""))
    if target is None:
        return _never
    after = c.operator == "DATE_AFTER"
    if c.context_name not in ("currentTime", "current_time"):
        # another field holding a date: compared when present, never "now"
        field = getter(c.context_name)

        def other(ctx: Context) -> bool:
            moment = parse_time(field(ctx))
            if moment is None:
                return False
            return moment > target if after else moment < target

        return other
    get = getter("currentTime")

    def test(ctx: Context) -> bool:
        raw = ctx.get("currentTime")
        if raw is None:
            raw = ctx.get("current_time")
        if raw is None or raw == "":
            moment: datetime | None = clock()
        elif isinstance(raw, datetime):
            moment = parse_time(raw)
        else:
            moment = parse_time(get(ctx))
        if moment is None:
            return False
        return moment > target if after else moment < target

    return test


_SEMVER_CMP: dict[str, Callable[[SemverKey, SemverKey], bool]] = {
    "SEMVER_EQ": operator.eq,
    "SEMVER_GT": operator.gt,
    "SEMVER_GTE": operator.ge,
    "SEMVER_LT": operator.lt,
    "SEMVER_LTE": operator.le,
}


def _semver(c: Constraint, get: Getter) -> Predicate:
    target = parse_semver(c.value if c.value is not None else (c.values[0] if c.values else ""))
    if target is None:
        return _never
    compare = _SEMVER_CMP[c.operator]

    def test(ctx: Context) -> bool:
        value = get(ctx)
        if value is None:
            return False
        key = parse_semver(value)
        return key is not None and compare(key, target)

    return test


def _regex(c: Constraint, get: Getter) -> Predicate:
    patterns = [c.value] if c.value is not None else list(c.values)
    compiled = [p for p in (compile_re2(x, c.case_insensitive) for x in patterns) if p]
    if not compiled:
        return _unknown  # an invalid pattern disables the rule, even inverted

    def test(ctx: Context) -> bool:
        value = get(ctx)
        return value is not None and any(p.search(value) for p in compiled)

    return test


def ip_networks(texts: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The valid networks (or single addresses) among ``texts``; invalid entries are skipped."""
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in texts:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return out


def _cidr(c: Constraint, get: Getter) -> Predicate:
    networks = ip_networks(list(c.values) + ([c.value] if c.value is not None else []))
    if not networks:
        return _never

    def test(ctx: Context) -> bool:
        value = get(ctx)
        if value is None:
            return False
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return any(address in n for n in networks if n.version == address.version)

    return test


def _now_if_missing(get: Getter, clock: Clock) -> Getter:
    """currentTime defaults to now for every operator, as in Unleash's engine."""

    def current_time(ctx: Context) -> str | None:
        value = get(ctx)
        return clock().isoformat() if value is None else value

    return current_time


def _base(c: Constraint, clock: Clock, static: Mapping[str, str]) -> Predicate:
    op = c.operator
    fallback = static.get(c.context_name)
    get = getter(c.context_name, fallback)
    plain = fallback is None and c.context_name not in ALIASES
    if c.context_name in ("currentTime", "current_time"):
        get = _now_if_missing(get, clock)
        plain = False
    if op == "IN":
        return _in(c, get, negate=False, plain=plain)
    if op == "NOT_IN":
        return _in(c, get, negate=True, plain=plain)
    if op in ("STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"):
        return _strings(c, get)
    if op in _NUM:
        return _number(c, get)
    if op in ("DATE_AFTER", "DATE_BEFORE"):
        return _date(c, clock)
    if op in _SEMVER_CMP:
        return _semver(c, get)
    if op == "REGEX":
        return _regex(c, get)
    if op == "IN_CIDR":
        return _cidr(c, get)
    return _unknown


def compile_constraint(
    c: Constraint, clock: Clock, static: Mapping[str, str] | None = None
) -> Predicate:
    """A predicate for one constraint; an unknown operator never matches, even inverted."""
    base = _base(c, clock, static or {})
    if base is _unknown or not c.inverted:
        return base

    def inverted(ctx: Context) -> bool:
        return not base(ctx)

    return inverted
