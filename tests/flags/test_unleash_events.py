"""Unleash delta-API events applied in order, all or nothing."""

from __future__ import annotations

import pytest

from erp_professional.flags import FeatureFlags, FlagDefinitionError

HYDRATION = {
    "type": "hydration",
    "eventId": 1,
    "features": [
        {"name": "a", "enabled": True, "strategies": [{"name": "default", "segments": [1]}]},
        {"name": "b", "enabled": False, "strategies": []},
    ],
    "segments": [
        {"id": 1, "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]}
    ],
}


def test_hydration_then_updates_and_removals() -> None:
    flags = FeatureFlags.from_unleash({"features": [{"name": "old", "enabled": True}]})
    assert flags.apply_unleash_events({"events": [HYDRATION]}) == 1
    assert flags.get_flag("old") is None
    assert flags.is_enabled("a", {"properties": {"plan": "pro"}})
    assert not flags.is_enabled("a", {"properties": {"plan": "free"}})

    flags.apply_unleash_events(
        [
            {
                "type": "segment-updated",
                "segment": {
                    "id": 1,
                    "constraints": [{"contextName": "plan", "operator": "IN", "values": ["free"]}],
                },
            },
            {
                "type": "feature-updated",
                "feature": {"name": "b", "enabled": True, "strategies": []},
            },
            {"type": "feature-removed", "featureName": "missing", "project": "default"},
        ]
    )
    assert flags.is_enabled("a", {"properties": {"plan": "free"}})
    assert flags.is_enabled("b")

    flags.apply_unleash_events(
        [
            {"type": "segment-removed", "segmentId": 1},
            {"type": "feature-removed", "featureName": "b"},
        ]
    )
    # a strategy whose segment is gone never matches (Unleash's rule)
    assert not flags.is_enabled("a", {"properties": {"plan": "free"}})
    assert flags.get_flag("b") is None


def test_order_matters() -> None:
    flags = FeatureFlags()
    flags.apply_unleash_events(
        [
            {"type": "feature-updated", "feature": {"name": "x", "enabled": True}},
            {"type": "feature-removed", "featureName": "x"},
            {"type": "feature-updated", "feature": {"name": "y", "enabled": False}},
            {"type": "feature-updated", "feature": {"name": "y", "enabled": True}},
        ]
    )
    assert flags.get_flag("x") is None
    assert flags.is_enabled("y")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "feature-updated", "feature": {"enabled": True}}, "events[1].feature.name"),
        ({"type": "feature-removed"}, "events[1].featureName"),
        ({"type": "segment-removed", "segmentId": None}, "events[1].segmentId"),
        ({"type": "teleported"}, "events[1].type"),
        ("not-an-event", "events[1]"),
    ],
)
def test_a_bad_event_changes_nothing(event: object, field: str) -> None:
    flags = FeatureFlags.from_unleash({"features": [{"name": "keep", "enabled": True}]})
    with pytest.raises(FlagDefinitionError) as info:
        flags.apply_unleash_events(
            [{"type": "feature-removed", "featureName": "keep"}, event]  # type: ignore[list-item]
        )
    assert info.value.field == field
    assert flags.is_enabled("keep")


def test_unleash_documents_with_nulls_and_extra_keys() -> None:
    flags = FeatureFlags.from_unleash(
        {
            "version": 2,
            "query": {"environment": "production"},
            "meta": {"revisionId": 7},
            "features": [
                {
                    "name": "a",
                    "type": "kill-switch",
                    "project": "default",
                    "stale": False,
                    "enabled": True,
                    "description": None,
                    "impressionData": None,
                    "variants": None,
                    "dependencies": None,
                    "strategies": [
                        {
                            "id": "5f1a",
                            "name": "default",
                            "title": None,
                            "disabled": None,
                            "parameters": None,
                            "constraints": [
                                {
                                    "contextName": "x",
                                    "operator": "IN",
                                    "values": [1, 2],
                                    "inverted": None,
                                    "caseInsensitive": None,
                                }
                            ],
                            "segments": None,
                            "variants": None,
                        }
                    ],
                }
            ],
            "segments": None,
        }
    )
    assert flags.is_enabled("a", {"x": "1"})
    assert flags.is_enabled("a", {"properties": {"x": 2}})
    assert not flags.is_enabled("a", {"x": "3"})


def test_delta_document_loads_like_a_features_document() -> None:
    flags = FeatureFlags.from_unleash(
        {
            "events": [
                {
                    "eventId": 1,
                    "type": "hydration",
                    "features": [
                        {"name": "x", "enabled": True, "strategies": [{"name": "default"}]}
                    ],
                    "segments": [],
                },
                {
                    "eventId": 2,
                    "type": "segment-updated",
                    "segment": {
                        "id": 7,
                        "constraints": [
                            {"contextName": "appName", "operator": "IN", "values": ["shop"]}
                        ],
                    },
                },
                {
                    "eventId": 3,
                    "type": "feature-updated",
                    "feature": {
                        "name": "y",
                        "enabled": True,
                        "description": None,
                        "strategies": [{"name": "default", "segments": [7]}],
                    },
                },
                {"eventId": 4, "type": "feature-removed", "featureName": "x"},
            ]
        }
    )
    assert flags.get_flag("x") is None
    assert flags.is_enabled("y", {"appName": "shop"})
    assert not flags.is_enabled("y", {"appName": "admin"})
