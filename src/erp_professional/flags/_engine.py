"""Compiled, immutable snapshot of flags and the pure evaluation over it.

A :class:`Snapshot` is built once per change (compiling constraints and strategies into
closures) and never mutated, so readers need no lock: the owner swaps the reference.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ._context import Context, parse_time
from ._model import Flag, Segment
from ._operators import Clock, Predicate
from ._strategies import (
    USER,
    CompiledStrategy,
    Randomness,
    VariantSet,
    compile_strategy,
    how_chosen,
    off,
    utcnow,
)
from ._types import (
    DISABLED_VARIANT,
    DISABLED_VARIANT_FEATURE_ON,
    Reason,
    Variant,
)

__all__ = ["CompiledFlag", "Decision", "Snapshot", "build_snapshot"]


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
        self, flag: Flag, segments: Mapping[int, Segment], clock: Clock, rnd: Randomness
    ) -> None:
        self.definition = flag
        self.name = flag.name
        self.enabled = flag.enabled
        self.overrides = dict(flag.overrides)
        self.window = (flag.start, flag.end) if flag.start or flag.end else None
        self.strategies = tuple(
            compile_strategy(i, s, flag.name, segments, clock, rnd)
            for i, s in enumerate(flag.strategies)
            if not s.disabled
        )
        self.all_disabled = bool(flag.strategies) and not self.strategies
        stickiness = (flag.variants[0].stickiness if flag.variants else None) or "default"
        self.variants = VariantSet(flag.variants, flag.name, stickiness, rnd)
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
        return off
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
        rnd: Randomness,
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
            user = USER(ctx)
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
                return chosen, how_chosen(forced, strategy.variants)
        chosen, forced = flag.variants.select(ctx)
        if chosen is None:
            return DISABLED_VARIANT_FEATURE_ON, None
        return chosen, how_chosen(forced, flag.variants)


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
        clock=clock or utcnow,
        rnd=Randomness(rng or random.Random(), static),
        version=version,
        ready=ready,
    )
