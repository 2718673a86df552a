"""Turning a variant into a typed value for :meth:`FeatureFlags.evaluate`."""

from __future__ import annotations

from ._types import ErrorCode, EvaluationDetails, Reason, Variant

__all__ = ["typed_details"]


def _mismatch(
    name: str, default: object, variant: Variant, detail: str
) -> EvaluationDetails[object]:
    return EvaluationDetails(
        name,
        default,
        variant.name,
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
        f"flag {name!r}: {detail}, expected {type(default).__name__}",
    )


def typed_details(
    name: str,
    default: object,
    variant: Variant,
    enabled: bool,
    reason: Reason,
    rule: str | None,
    how: Reason | None,
) -> EvaluationDetails[object]:
    """Details for a bool default (on/off) or a typed default (the variant payload)."""
    shown = variant.name if variant.enabled else None
    if isinstance(default, bool):
        return EvaluationDetails(name, enabled, shown, reason, None, None, rule)
    if how is not None and enabled:
        reason = how
        if how is Reason.TARGETING_MATCH:
            rule = f"variant-override:{variant.name}"
    if not variant.enabled:
        why = reason if not enabled else Reason.DEFAULT
        return EvaluationDetails(name, default, None, why, None, None, rule)
    payload = variant.payload
    if payload is None:
        if isinstance(default, str):
            return EvaluationDetails(name, variant.name, shown, reason, None, None, rule)
        return EvaluationDetails(name, default, shown, Reason.DEFAULT, None, None, rule)
    try:
        value = payload.parsed()
    except ValueError as err:
        return EvaluationDetails(
            name,
            default,
            shown,
            Reason.ERROR,
            ErrorCode.PARSE_ERROR,
            f"flag {name!r}: {payload.type} payload does not parse: {err}",
            rule,
        )
    if isinstance(default, str):
        if not isinstance(value, str):
            return _mismatch(name, default, variant, f"payload is {payload.type}")
    elif isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _mismatch(name, default, variant, f"payload is {payload.type}")
        if isinstance(default, float):
            value = float(value)
        elif isinstance(value, float):
            if not value.is_integer():
                return _mismatch(name, default, variant, "payload is not an integer")
            value = int(value)
    elif isinstance(default, dict | list):
        if not isinstance(value, type(default)):
            return _mismatch(name, default, variant, f"payload is {type(value).__name__}")
    elif default is not None:
        return _mismatch(name, default, variant, "unsupported default type")
    return EvaluationDetails(name, value, shown, reason, None, None, rule)
