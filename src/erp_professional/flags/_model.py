"""Flag definitions: immutable dataclasses in Unleash's shape, plus overrides and windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from ._types import Payload

__all__ = [
    "Constraint",
    "Dependency",
    "Flag",
    "FlagDefinitionError",
    "OPERATORS",
    "Segment",
    "Strategy",
    "VariantDefinition",
    "VariantOverride",
]

OPERATORS = frozenset(
    {
        "IN",
        "NOT_IN",
        "STR_STARTS_WITH",
        "STR_ENDS_WITH",
        "STR_CONTAINS",
        "NUM_EQ",
        "NUM_GT",
        "NUM_GTE",
        "NUM_LT",
        "NUM_LTE",
        "DATE_AFTER",
        "DATE_BEFORE",
        "SEMVER_EQ",
        "SEMVER_GT",
        "SEMVER_GTE",
        "SEMVER_LT",
        "SEMVER_LTE",
        "REGEX",
        "IN_CIDR",
    }
)

_EMPTY: Mapping[str, str] = MappingProxyType({})


class FlagDefinitionError(ValueError):
    """A flag definition is invalid: names the source, the flag and the field."""

    def __init__(self, flag: str | None, field_path: str, reason: str, source: str = "") -> None:
        self.flag = flag
        self.field = field_path
        self.reason = reason
        self.source = source
        where = f"{source}: " if source else ""
        who = f"flag {flag!r}" if flag is not None else "document"
        at = f", field {field_path!r}" if field_path else ""
        super().__init__(f"{where}{who}{at}: {reason}")

    def with_source(self, source: str) -> FlagDefinitionError:
        return FlagDefinitionError(self.flag, self.field, self.reason, source)


@dataclass(frozen=True, slots=True)
class Constraint:
    """``context_name OPERATOR values`` (``value`` for single-value operators)."""

    context_name: str
    operator: str
    values: tuple[str, ...] = ()
    value: str | None = None
    inverted: bool = False
    case_insensitive: bool = False

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "contextName": self.context_name,
            "operator": self.operator,
            "values": list(self.values),
            "inverted": self.inverted,
            "caseInsensitive": self.case_insensitive,
        }
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class VariantOverride:
    """Give this variant to contexts whose ``context_name`` is one of ``values``."""

    context_name: str
    values: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"contextName": self.context_name, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class VariantDefinition:
    """One arm of an A/B test: ``weight`` out of the sum of weights."""

    name: str
    weight: int = 1
    stickiness: str | None = None
    payload: Payload | None = None
    overrides: tuple[VariantOverride, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "weight": self.weight}
        if self.stickiness is not None:
            out["stickiness"] = self.stickiness
        if self.payload is not None:
            out["payload"] = self.payload.to_dict()
        if self.overrides:
            out["overrides"] = [o.to_dict() for o in self.overrides]
        return out


@dataclass(frozen=True, slots=True)
class Strategy:
    """An activation strategy: Unleash's name and string parameters, constraints, segments."""

    name: str = "default"
    parameters: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    constraints: tuple[Constraint, ...] = ()
    segments: tuple[int, ...] = ()
    variants: tuple[VariantDefinition, ...] = ()
    disabled: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "parameters": dict(self.parameters),
            "constraints": [c.to_dict() for c in self.constraints],
        }
        if self.segments:
            out["segments"] = list(self.segments)
        if self.variants:
            out["variants"] = [v.to_dict() for v in self.variants]
        if self.disabled:
            out["disabled"] = True
        return out


@dataclass(frozen=True, slots=True)
class Dependency:
    """A prerequisite: ``feature`` must be enabled (or disabled), optionally with a variant."""

    feature: str
    enabled: bool = True
    variants: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"feature": self.feature, "enabled": self.enabled}
        if self.variants:
            out["variants"] = list(self.variants)
        return out


@dataclass(frozen=True, slots=True)
class Segment:
    """Reusable constraints, referenced by id from strategies."""

    id: int
    constraints: tuple[Constraint, ...] = ()
    name: str = ""

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "constraints": [c.to_dict() for c in self.constraints],
        }
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class Flag:
    """A feature flag.

    ``enabled=False`` is the kill switch: it wins over everything else. ``overrides`` maps a
    user id to a forced on/off; ``start``/``end`` bound the time window (timezone-aware).
    With no strategies an enabled flag is on for everyone, as in Unleash.
    """

    name: str
    enabled: bool = True
    strategies: tuple[Strategy, ...] = ()
    variants: tuple[VariantDefinition, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    overrides: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    start: datetime | None = None
    end: datetime | None = None
    description: str = ""
    type: str = "release"
    impression_data: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise FlagDefinitionError(str(self.name), "name", "must be non-empty text")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and moment.tzinfo is None:
                raise FlagDefinitionError(self.name, name, "needs a timezone-aware datetime")

    def to_dict(self) -> dict[str, object]:
        """Unleash's feature JSON, with ``overrides``, ``start`` and ``end`` when set."""
        out: dict[str, object] = {
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "enabled": self.enabled,
            "impressionData": self.impression_data,
            "strategies": [s.to_dict() for s in self.strategies],
            "variants": [v.to_dict() for v in self.variants],
        }
        if self.dependencies:
            out["dependencies"] = [d.to_dict() for d in self.dependencies]
        if self.overrides:
            out["overrides"] = dict(self.overrides)
        if self.start is not None:
            out["start"] = self.start.isoformat()
        if self.end is not None:
            out["end"] = self.end.isoformat()
        return out
