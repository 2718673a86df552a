"""Compiled, immutable snapshot of flags and the pure evaluation over it.

A :class:`Snapshot` is built once per change (compiling constraints and strategies into
closures) and never mutated, so readers need no lock: the owner swaps the reference.
"""

from __future__ import annotations

import ipaddress
import math
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ._context import Context, Getter, getter, parse_time
from ._model import Flag, Segment, Strategy, VariantDefinition
from ._murmur import murmur3_32, raw_hash
from ._operators import Clock, Predicate, compile_constraint, ip_networks
from ._types import (
    DISABLED_VARIANT,
    DISABLED_VARIANT_FEATURE_ON,
    Reason,
    Variant,
)

__all__ = ["CompiledFlag", "Snapshot", "build_snapshot", "normalized_value", "VARIANT_SEED"]

VARIANT_SEED = 86028157
_USER = getter("userId")
_SESSION = getter("sessionId")
_ADDRESS = getter("remoteAddress")


def normalized_value(identifier: str, group_id: str, normalizer: int = 100, seed: int = 0) -> int:
    """Unleash's bucket of ``identifier`` in ``group_id``: 1..normalizer."""
    return murmur3_32(f"{group_id}:{identifier}", seed) % normalizer + 1


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Random:
    """Random stickiness ids, like Unleash's ``randomGenerator`` (1..10000), and the static
    context (fields such as environment and appName that every evaluation shares)."""

    __slots__ = ("rng", "static")

    def __init__(self, rng: random.Random, static: Mapping[str, str] | None = None) -> None:
        self.rng = rng
        self.static: Mapping[str, str] = dict(static or {})

    def id(self) -> str:
        return str(self.rng.randint(1, 10000))


def _percentage(text: str | None) -> float:
    try:
        value = float(text) if text is not None else 0.0
    except ValueError:
        return -1.0
    return value if math.isfinite(value) else -1.0


def _threshold(percent: float) -> int:
    """``hash % 100 < threshold`` is Unleash's ``hash % 100 + 1 <= percent``."""
    return math.floor(percent) if percent > 0 else 0


def _off(ctx: Context) -> bool:
    return False


def _hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname()


def _rollout_test(s: Strategy, feature: str, rnd: _Random) -> tuple[Predicate, bool]:
    """The strategy's own test and whether it is a percentage split."""
    params = s.parameters
    name = s.name
    if name == "default":
        return (lambda ctx: True), False
    if name == "userWithId":
        ids = frozenset(u.strip() for u in params.get("userIds", "").split(","))

        def by_user(ctx: Context) -> bool:
            user = _USER(ctx)
            return user is not None and user in ids

        return by_user, False
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        percent = _percentage(params.get("percentage"))
        group = params.get("groupId", feature)
        field = _USER if name == "gradualRolloutUserId" else _SESSION

        prefix = f"{group}:"
        limit = _threshold(percent)

        def gradual(ctx: Context) -> bool:
            ident = field(ctx)
            return ident is not None and raw_hash(prefix + ident, 0, False) % 100 < limit

        return (gradual if percent > 0 else _off), True
    if name == "gradualRolloutRandom":
        percent = _percentage(params.get("percentage"))
        return (lambda ctx: percent > 0 and rnd.rng.randint(1, 100) <= percent), True
    if name == "remoteAddress":
        entries = [e.strip() for e in params.get("IPs", "").split(",") if e.strip()]
        exact = frozenset(entries)
        networks = ip_networks([e for e in entries if "/" in e])

        def by_address(ctx: Context) -> bool:
            address = _ADDRESS(ctx)
            if address is None:
                return False
            if address in exact:
                return True
            return bool(networks) and _in_networks(address, networks)

        return by_address, False
    if name == "applicationHostname":
        hosts = frozenset(h.strip().lower() for h in params.get("hostNames", "").split(","))
        here = _hostname().lower() in hosts
        return (lambda ctx: here), False
    if name == "flexibleRollout":
        percent = _percentage(params.get("rollout"))
        group = params.get("groupId", feature)
        stickiness = params.get("stickiness") or "default"
        sticky = _rollout_stickiness(stickiness, rnd)

        prefix = f"{group}:"
        limit = _threshold(percent)

        def flexible(ctx: Context) -> bool:
            ident = sticky(ctx)
            return ident is not None and raw_hash(prefix + ident, 0, False) % 100 < limit

        return (flexible if percent > 0 else _off), percent < 100
    return (lambda ctx: False), False


def _in_networks(
    address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks if n.version == ip.version)


def _rollout_stickiness(stickiness: str, rnd: _Random) -> Getter:
    if stickiness == "default":

        def default(ctx: Context) -> str | None:
            user = _USER(ctx)
            if user is not None:
                return user
            session = _SESSION(ctx)
            return session if session is not None else rnd.id()

        return default
    if stickiness == "random":
        return lambda ctx: rnd.id()
    return getter(stickiness, rnd.static.get(stickiness))


def _variant_stickiness(stickiness: str, rnd: _Random) -> Getter:
    if stickiness == "default":

        def default(ctx: Context) -> str | None:
            user = _USER(ctx)
            if user is not None:
                return user
            session = _SESSION(ctx)
            return session if session is not None else rnd.id()

        return default
    field = getter(stickiness, rnd.static.get(stickiness))

    def custom(ctx: Context) -> str | None:
        value = field(ctx)
        return value if value is not None else rnd.id()

    return custom


class _VariantSet:
    """Weighted variants with overrides, placed by murmur3 with Unleash's variant seed."""

    __slots__ = ("group", "overrides", "prefix", "sticky", "total", "variants", "weighted")

    def __init__(
        self, variants: tuple[VariantDefinition, ...], group: str, stickiness: str, rnd: _Random
    ) -> None:
        self.variants = variants
        self.group = group
        self.total = sum(v.weight for v in variants)
        self.sticky = _variant_stickiness(stickiness, rnd)
        self.prefix = f"{group}:"
        # results are immutable: built once here, returned by every evaluation
        results = {id(v): Variant(v.name, True, True, v.payload) for v in variants}
        self.weighted = tuple((v.weight, results[id(v)]) for v in variants if v.weight > 0)
        self.overrides: tuple[tuple[Getter, frozenset[str], Variant], ...] = tuple(
            (
                getter(o.context_name, rnd.static.get(o.context_name)),
                frozenset(o.values),
                results[id(v)],
            )
            for v in variants
            for o in v.overrides
        )

    def select(self, ctx: Context) -> tuple[Variant | None, bool]:
        """The variant and whether it came from an override."""
        if self.total <= 0:
            return None, False
        for get, values, variant in self.overrides:
            value = get(ctx)
            if value is not None and value in values:
                return variant, True
        seed = self.sticky(ctx) or ""
        target = raw_hash(self.prefix + seed, VARIANT_SEED, False) % self.total + 1
        counter = 0
        for weight, variant in self.weighted:
            counter += weight
            if counter >= target:
                return variant, False
        return None, False


def _all_of(checks: list[Predicate], last: Predicate) -> Predicate:
    """One closure testing every constraint, then the strategy itself (no loop for <= 3)."""
    if not checks:
        return last
    if len(checks) == 1:
        (a,) = checks
        return lambda ctx: a(ctx) and last(ctx)
    if len(checks) == 2:
        a, b = checks
        return lambda ctx: a(ctx) and b(ctx) and last(ctx)
    if len(checks) == 3:
        a, b, c = checks
        return lambda ctx: a(ctx) and b(ctx) and c(ctx) and last(ctx)
    every = tuple(checks)

    def test(ctx: Context) -> bool:
        for check in every:
            if not check(ctx):
                return False
        return last(ctx)

    return test


@dataclass(frozen=True, slots=True)
class CompiledStrategy:
    index: int
    label: str
    split: bool
    test: Predicate
    variants: _VariantSet | None


def _compile_strategy(
    index: int, s: Strategy, flag: str, segments: Mapping[int, Segment], clock: Clock, rnd: _Random
) -> CompiledStrategy:
    label = f"strategies[{index}]:{s.name}"
    constraints = list(s.constraints)
    missing_segment = False
    for segment_id in s.segments:
        segment = segments.get(segment_id)
        if segment is None:
            missing_segment = True
        else:
            constraints.extend(segment.constraints)
    own, split = _rollout_test(s, flag, rnd)
    test = (
        _off
        if missing_segment
        else _all_of([compile_constraint(c, clock, rnd.static) for c in constraints], own)
    )

    variants = None
    if s.variants:
        group = s.parameters.get("groupId", flag)
        stickiness = s.parameters.get("stickiness") or "default"
        variants = _VariantSet(s.variants, group, stickiness, rnd)
    return CompiledStrategy(index, label, split, test, variants)


class CompiledFlag:
    """One flag ready to evaluate; the parent snapshot resolves dependencies."""

    __slots__ = (
        "all_disabled",
        "definition",
        "enabled",
        "fast",
        "has_variants",
        "matchers",
        "name",
        "overrides",
        "strategies",
        "variants",
        "window",
    )

    def __init__(
        self, flag: Flag, segments: Mapping[int, Segment], clock: Clock, rnd: _Random
    ) -> None:
        self.definition = flag
        self.name = flag.name
        self.enabled = flag.enabled
        self.overrides = dict(flag.overrides)
        self.window = (flag.start, flag.end) if flag.start or flag.end else None
        self.strategies = tuple(
            _compile_strategy(i, s, flag.name, segments, clock, rnd)
            for i, s in enumerate(flag.strategies)
            if not s.disabled
        )
        self.all_disabled = bool(flag.strategies) and not self.strategies
        stickiness = (flag.variants[0].stickiness if flag.variants else None) or "default"
        self.variants = _VariantSet(flag.variants, flag.name, stickiness, rnd)
        self.has_variants = bool(flag.variants) or any(s.variants for s in flag.strategies)
        # decisions are immutable: one per strategy, built here, returned by evaluations
        self.matchers = tuple(
            (
                s.test,
                Decision(True, Reason.SPLIT if s.split else Reason.TARGETING_MATCH, s.label, s),
            )
            for s in self.strategies
        )
        # a single predicate for on/off when nothing needs the snapshot (dependencies)
        self.fast: Predicate | None = None
        if not flag.dependencies and self.window is None and not self.overrides:
            self.fast = _flag_predicate(flag.enabled, self.all_disabled, self.strategies)


def _flag_predicate(
    enabled: bool, all_disabled: bool, strategies: tuple[CompiledStrategy, ...]
) -> Predicate:
    if not enabled or all_disabled:
        return _off
    if not strategies:
        return lambda ctx: True
    if len(strategies) == 1:
        return strategies[0].test
    tests = tuple(s.test for s in strategies)

    def any_of(ctx: Context) -> bool:
        for test in tests:  # noqa: SIM110 - a plain loop is faster than any()
            if test(ctx):
                return True
        return False

    return any_of


@dataclass(frozen=True, slots=True)
class Decision:
    enabled: bool
    reason: Reason
    rule: str | None
    strategy: CompiledStrategy | None


_OFF = Decision(False, Reason.DISABLED, None, None)
_STATIC = Decision(True, Reason.STATIC, None, None)
_NO_MATCH = Decision(False, Reason.DEFAULT, None, None)
_OUTSIDE_WINDOW = Decision(False, Reason.DISABLED, "window", None)
_OVERRIDE_ON = Decision(True, Reason.TARGETING_MATCH, "override", None)
_OVERRIDE_OFF = Decision(False, Reason.TARGETING_MATCH, "override", None)


class Snapshot:
    """Immutable compiled flags and segments; ``version`` counts changes in the source."""

    __slots__ = ("clock", "definitions", "flags", "ready", "segments", "version")

    def __init__(
        self,
        definitions: Mapping[str, Flag],
        segments: Mapping[int, Segment],
        *,
        clock: Clock,
        rnd: _Random,
        version: int = 0,
        ready: bool = True,
    ) -> None:
        self.definitions = dict(definitions)
        self.segments = dict(segments)
        self.clock = clock
        self.version = version
        self.ready = ready
        self.flags = {
            name: CompiledFlag(flag, self.segments, clock, rnd)
            for name, flag in definitions.items()
        }

    def decide(self, flag: CompiledFlag, ctx: Context, *, depth: int = 0) -> Decision:
        """Whether ``flag`` is on for ``ctx``, why, and the strategy that matched."""
        if not flag.enabled:
            return _OFF
        deps = flag.definition.dependencies
        if deps:
            for dep in deps:
                if not self._dependency_holds(dep.feature, dep.enabled, dep.variants, ctx, depth):
                    return Decision(False, Reason.DISABLED, f"dependency:{dep.feature}", None)
        if flag.window is not None and not self._in_window(flag.window, ctx):
            return _OUTSIDE_WINDOW
        if flag.overrides:
            user = _USER(ctx)
            if user is not None and user in flag.overrides:
                return _OVERRIDE_ON if flag.overrides[user] else _OVERRIDE_OFF
        if not flag.strategies:
            return _NO_MATCH if flag.all_disabled else _STATIC
        for test, decision in flag.matchers:
            if test(ctx):
                return decision
        return _NO_MATCH

    def is_on(self, flag: CompiledFlag, ctx: Context) -> bool:
        """The fast path of :meth:`decide`."""
        fast = flag.fast
        if fast is not None:
            return fast(ctx)
        return self.decide(flag, ctx).enabled

    def _in_window(self, window: tuple[datetime | None, datetime | None], ctx: Context) -> bool:
        raw = ctx.get("currentTime", ctx.get("current_time"))
        now = parse_time(raw) if raw not in (None, "") else self.clock()
        if now is None:
            return False
        start, end = window
        return (start is None or now >= start) and (end is None or now < end)

    def _dependency_holds(
        self,
        parent_name: str,
        want_enabled: bool,
        variants: tuple[str, ...],
        ctx: Context,
        depth: int,
    ) -> bool:
        parent = self.flags.get(parent_name)
        if parent is None or parent.definition.dependencies or depth > 0:
            return False
        decision = self.decide(parent, ctx, depth=depth + 1)
        if not want_enabled:
            return not decision.enabled
        if not decision.enabled:
            return False
        if variants:
            return self.variant_for(parent, decision, ctx)[0].name in variants
        return True

    def variant_for(
        self, flag: CompiledFlag, decision: Decision, ctx: Context
    ) -> tuple[Variant, Reason | None]:
        """The variant for an evaluated flag and how it was chosen.

        The reason is SPLIT for a weighted choice among several variants, TARGETING_MATCH for
        a variant override, None otherwise.
        """
        if not decision.enabled:
            return DISABLED_VARIANT, None
        strategy = decision.strategy
        if strategy is not None and strategy.variants is not None:
            chosen, forced = strategy.variants.select(ctx)
            if chosen is not None:
                return chosen, _how(forced, strategy.variants)
        chosen, forced = flag.variants.select(ctx)
        if chosen is None:
            return DISABLED_VARIANT_FEATURE_ON, None
        return chosen, _how(forced, flag.variants)


def _how(forced: bool, variants: _VariantSet) -> Reason | None:
    if forced:
        return Reason.TARGETING_MATCH
    return Reason.SPLIT if len(variants.variants) > 1 else None


def build_snapshot(
    definitions: Mapping[str, Flag],
    segments: Mapping[int, Segment],
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    version: int = 0,
    ready: bool = True,
    static: Mapping[str, str] | None = None,
) -> Snapshot:
    """Compile ``definitions`` into a snapshot; ``static`` fills fields a context lacks."""
    return Snapshot(
        definitions,
        segments,
        clock=clock or _utcnow,
        rnd=_Random(rng or random.Random(), static),
        version=version,
        ready=ready,
    )
