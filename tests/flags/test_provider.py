"""The OpenFeature provider, exercised through the OpenFeature client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from erp_professional.flags import FeatureFlags, FeatureFlagsProvider


@pytest.fixture
def flags() -> Iterator[FeatureFlags]:
    flags = FeatureFlags.from_dict(
        {
            "flags": {
                "beta": {"users": ["alice"]},
                "plan": {
                    "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]
                },
                "colour": {"variants": [{"name": "blue", "payload": "#00f"}]},
                "limit": {"variants": [{"name": "v", "payload": 10}]},
                "ratio": {"variants": [{"name": "v", "payload": 0.5}]},
                "config": {"variants": [{"name": "v", "payload": {"retries": 3}}]},
            }
        }
    )
    api.set_provider(FeatureFlagsProvider(flags), domain="flags-test")
    yield flags
    api.clear_providers()


def test_values_through_the_client(flags: FeatureFlags) -> None:
    client = api.get_client("flags-test")
    alice = EvaluationContext(targeting_key="alice")
    assert client.get_boolean_value("beta", False, alice) is True
    assert client.get_boolean_value("beta", False, EvaluationContext("bob")) is False
    assert client.get_boolean_value("plan", False, EvaluationContext("x", {"plan": "pro"}))
    assert client.get_string_value("colour", "", alice) == "#00f"
    assert client.get_integer_value("limit", 0, alice) == 10
    assert client.get_float_value("ratio", 0.0, alice) == 0.5
    assert client.get_object_value("config", {}, alice) == {"retries": 3}


def test_details_and_errors(flags: FeatureFlags) -> None:
    client = api.get_client("flags-test")
    details = client.get_boolean_details("beta", False, EvaluationContext("alice"))
    assert details.reason == Reason.TARGETING_MATCH
    assert details.flag_metadata == {"rule": "strategies[0]:userWithId"}
    missing = client.get_boolean_details("nope", True)
    assert missing.value is True and missing.error_code == ErrorCode.FLAG_NOT_FOUND
    mismatch = client.get_integer_details("colour", 5, EvaluationContext("a"))
    assert mismatch.value == 5 and mismatch.error_code == ErrorCode.TYPE_MISMATCH


def test_changes_are_emitted(flags: FeatureFlags) -> None:
    seen: list[EventDetails] = []
    client = api.get_client("flags-test")
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, seen.append)
    flags.set_flag("beta", {"enabled": False})
    assert seen and seen[-1].flags_changed == ["beta"]
    assert client.get_boolean_value("beta", True, EvaluationContext("alice")) is False
