"""Unleash delta-API events: hydration, feature and segment updates and removals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._model import Flag, FlagDefinitionError, Segment
from ._parse import parse_document, parse_flag, parse_segment

__all__ = ["apply_events"]


def apply_events(
    flags: Mapping[str, Flag],
    segments: Mapping[int, Segment],
    events: Iterable[Mapping[str, object]] | Mapping[str, object],
) -> tuple[dict[str, Flag], dict[int, Segment], int]:
    """New flags and segments after ``events`` (in order); nothing changes on an error."""
    if isinstance(events, Mapping):
        events = events.get("events", ())  # type: ignore[assignment]
    new_flags = dict(flags)
    new_segments = dict(segments)
    count = 0
    for i, event in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(event, Mapping):
            raise FlagDefinitionError(None, where, "expected a mapping")
        kind = event.get("type")
        if kind == "hydration":
            hydrated, hydrated_segments = parse_document(
                {"features": event.get("features") or [], "segments": event.get("segments") or []},
                strict=False,
            )
            new_flags, new_segments = hydrated, hydrated_segments
        elif kind == "feature-updated":
            feature = event.get("feature")
            if not isinstance(feature, Mapping) or not isinstance(feature.get("name"), str):
                raise FlagDefinitionError(None, where + ".feature.name", "is required")
            new_flags[feature["name"]] = parse_flag(feature["name"], feature, strict=False)
        elif kind == "feature-removed":
            name = event.get("featureName")
            if not isinstance(name, str):
                raise FlagDefinitionError(None, where + ".featureName", "is required")
            new_flags.pop(name, None)
        elif kind == "segment-updated":
            segment = parse_segment(event.get("segment"), where + ".segment", strict=False)
            new_segments[segment.id] = segment
        elif kind == "segment-removed":
            ident = event.get("segmentId")
            if isinstance(ident, bool) or not isinstance(ident, int | str):
                raise FlagDefinitionError(None, where + ".segmentId", "is required")
            try:
                new_segments.pop(int(ident), None)
            except ValueError:
                raise FlagDefinitionError(None, where + ".segmentId", "not an id") from None
        else:
            raise FlagDefinitionError(None, where + ".type", f"unknown event type {kind!r}")
        count += 1
    return new_flags, new_segments, count
