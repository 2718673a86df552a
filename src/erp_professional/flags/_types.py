"""Result types of an evaluation: reasons and error codes use OpenFeature's names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

__all__ = [
    "ErrorCode",
    "EvaluationDetails",
    "Payload",
    "Reason",
    "State",
    "Variant",
    "DISABLED_VARIANT",
]

T = TypeVar("T")
JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


class Reason(StrEnum):
    """Why a value was returned (OpenFeature's resolution reasons)."""

    STATIC = "STATIC"
    DEFAULT = "DEFAULT"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """What went wrong when ``reason`` is ERROR or DEFAULT (OpenFeature's error codes)."""

    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


class State(StrEnum):
    """Start-up and health state of a :class:`FeatureFlags` instance."""

    NOT_READY = "NOT_READY"
    READY = "READY"
    STALE = "STALE"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class Payload:
    """A variant payload as Unleash sends it: ``type`` is string, json, csv or number."""

    type: str
    value: str

    def parsed(self) -> JSONValue:
        """The value decoded by type: json -> object, number -> int/float, else the text."""
        if self.type == "json":
            decoded: JSONValue = json.loads(self.value)
            return decoded
        if self.type == "number":
            number = float(self.value)
            return int(number) if number.is_integer() and "." not in self.value else number
        return self.value

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True, slots=True)
class Variant:
    """The variant a context gets: ``enabled`` is False for the ``disabled`` variant."""

    name: str
    enabled: bool
    feature_enabled: bool
    payload: Payload | None = None

    def to_dict(self) -> dict[str, object]:
        """Unleash's JSON shape: name, enabled, feature_enabled and payload when present."""
        out: dict[str, object] = {
            "name": self.name,
            "enabled": self.enabled,
            "feature_enabled": self.feature_enabled,
        }
        if self.payload is not None:
            out["payload"] = self.payload.to_dict()
        return out


DISABLED_VARIANT = Variant("disabled", False, False)
DISABLED_VARIANT_FEATURE_ON = Variant("disabled", False, True)


@dataclass(slots=True)
class EvaluationDetails(Generic[T]):
    """Everything about one evaluation: value, variant, reason, error and the matching rule.

    A fresh object per evaluation (not frozen: building it stays cheap on the hot path).
    """

    flag_key: str
    value: T
    variant: str | None = None
    reason: Reason = Reason.DEFAULT
    error_code: ErrorCode | None = None
    error_message: str | None = None
    rule: str | None = None
    flag_metadata: dict[str, str] = field(default_factory=dict)
