"""Strategies and variants compiled to closures, with Unleash's hashing and stickiness."""

from __future__ import annotations

import ipaddress
import math
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ._context import Context, Getter, getter
from ._model import Segment, Strategy, VariantDefinition
from ._murmur import murmur3_32, raw_hash
from ._operators import Clock, Predicate, compile_constraint, ip_networks
from ._types import Reason, Variant

__all__ = [
    "ADDRESS",
    "CompiledStrategy",
    "Randomness",
    "SESSION",
    "USER",
    "VARIANT_SEED",
    "VariantSet",
    "compile_strategy",
    "how_chosen",
    "normalized_value",
    "off",
    "utcnow",
]

VARIANT_SEED = 86028157
USER = getter("userId")
SESSION = getter("sessionId")
ADDRESS = getter("remoteAddress")


def normalized_value(identifier: str, group_id: str, normalizer: int = 100, seed: int = 0) -> int:
    """Unleash's bucket of ``identifier`` in ``group_id``: 1..normalizer."""
    return murmur3_32(f"{group_id}:{identifier}", seed) % normalizer + 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Randomness:
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


def off(ctx: Context) -> bool:
    return False


def _hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname()


def _rollout_test(s: Strategy, feature: str, rnd: Randomness) -> tuple[Predicate, bool]:
    """The strategy's own test and whether it is a percentage split."""
    params = s.parameters
    name = s.name
    if name == "default":
        return (lambda ctx: True), False
    if name == "userWithId":
        ids = frozenset(u.strip() for u in params.get("userIds", "").split(","))

        def by_user(ctx: Context) -> bool:
            user = USER(ctx)
            return user is not None and user in ids

        return by_user, False
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        percent = _percentage(params.get("percentage"))
        group = params.get("groupId", feature)
        field = USER if name == "gradualRolloutUserId" else SESSION

        prefix = f"{group}:"
        limit = _threshold(percent)

        def gradual(ctx: Context) -> bool:
            ident = field(ctx)
            return ident is not None and raw_hash(prefix + ident, 0, False) % 100 < limit

        return (gradual if percent > 0 else off), True
    if name == "gradualRolloutRandom":
        percent = _percentage(params.get("percentage"))
        return (lambda ctx: percent > 0 and rnd.rng.randint(1, 100) <= percent), True
    if name == "remoteAddress":
        entries = [e.strip() for e in params.get("IPs", "").split(",") if e.strip()]
        exact = frozenset(entries)
        networks = ip_networks([e for e in entries if "/" in e])

        def by_address(ctx: Context) -> bool:
            address = ADDRESS(ctx)
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

        return (flexible if percent > 0 else off), percent < 100
    return (lambda ctx: False), False


def _in_networks(
    address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks if n.version == ip.version)


def _rollout_stickiness(stickiness: str, rnd: Randomness) -> Getter:
    if stickiness == "default":

        def default(ctx: Context) -> str | None:
            user = USER(ctx)
            if user is not None:
                return user
            session = SESSION(ctx)
            return session if session is not None else rnd.id()

        return default
    if stickiness == "random":
        return lambda ctx: rnd.id()
    return getter(stickiness, rnd.static.get(stickiness))


def _variant_stickiness(stickiness: str, rnd: Randomness) -> Getter:
    if stickiness == "default":

        def default(ctx: Context) -> str | None:
            user = USER(ctx)
            if user is not None:
                return user
            session = SESSION(ctx)
            return session if session is not None else rnd.id()

        return default
    field = getter(stickiness, rnd.static.get(stickiness))

    def custom(ctx: Context) -> str | None:
        value = field(ctx)
        return value if value is not None else rnd.id()

    return custom


class VariantSet:
    """Weighted variants with overrides, placed by murmur3 with Unleash's variant seed."""

    __slots__ = ("group", "overrides", "prefix", "sticky", "total", "variants", "weighted")

    def __init__(
        self, variants: tuple[VariantDefinition, ...], group: str, stickiness: str, rnd: Randomness
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
    variants: VariantSet | None


def compile_strategy(
    index: int,
    s: Strategy,
    flag: str,
    segments: Mapping[int, Segment],
    clock: Clock,
    rnd: Randomness,
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
        off
        if missing_segment
        else _all_of([compile_constraint(c, clock, rnd.static) for c in constraints], own)
    )

    variants = None
    if s.variants:
        group = s.parameters.get("groupId", flag)
        stickiness = s.parameters.get("stickiness") or "default"
        variants = VariantSet(s.variants, group, stickiness, rnd)
    return CompiledStrategy(index, label, split, test, variants)


def how_chosen(forced: bool, variants: VariantSet) -> Reason | None:
    if forced:
        return Reason.TARGETING_MATCH
    return Reason.SPLIT if len(variants.variants) > 1 else None
