"""Evaluation semantics beyond the Unleash spec files: operators, rollouts, reasons."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.flags import (
    ErrorCode,
    FeatureFlags,
    Flag,
    Reason,
    Strategy,
    VariantDefinition,
    normalized_value,
)
from erp_professional.flags._murmur import murmur3_32_pure


def _constraint_flag(**constraint: object) -> FeatureFlags:
    return FeatureFlags.from_unleash(
        {
            "features": [
                {
                    "name": "f",
                    "enabled": True,
                    "strategies": [{"name": "default", "constraints": [constraint]}],
                }
            ]
        }
    )


@given(st.text(max_size=40), st.integers(min_value=0, max_value=2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_pure_murmur3_matches_mmh3(text: str, seed: int) -> None:
    assert murmur3_32_pure(text, seed) == mmh3.hash(text, seed, signed=False)


def test_normalized_value_known_buckets() -> None:
    # values from Unleash's SDK test-suites
    assert normalized_value("123", "gr1") == 73
    assert normalized_value("999", "groupX") == 25


def test_utf8_flag_names_and_values() -> None:
    flags = FeatureFlags.from_unleash(
        {
            "features": [
                {
                    "name": "blåbærsyltetøy-功能-🚀",
                    "enabled": True,
                    "strategies": [
                        {
                            "name": "flexibleRollout",
                            "parameters": {"rollout": "50", "stickiness": "default"},
                            "constraints": [
                                {"contextName": "city", "operator": "IN", "values": ["Tromsø"]}
                            ],
                        }
                    ],
                }
            ]
        }
    )
    name = "blåbærsyltetøy-功能-🚀"
    on = [u for u in range(200) if flags.is_enabled(name, {"userId": f"ü{u}", "city": "Tromsø"})]
    # bucket = murmur3 of the UTF-8 text "<group>:<user>"
    expected = [u for u in range(200) if normalized_value(f"ü{u}", name) <= 50]
    assert on == expected
    assert 60 < len(on) < 140
    assert not flags.is_enabled(name, {"userId": "ü1", "city": "Tromso"})


@pytest.mark.parametrize(
    ("constraint", "context", "expected"),
    [
        ({"value": r"^user-\d+$"}, {"properties": {"f": "user-42"}}, True),
        ({"value": r"^user-\d+$"}, {"properties": {"f": "USER-42"}}, False),
        ({"value": r"^user-\d+$", "caseInsensitive": True}, {"properties": {"f": "USER-42"}}, True),
        ({"value": r"^user-\d+$", "inverted": True}, {"properties": {"f": "admin"}}, True),
        ({"value": r"\d"}, {"properties": {"f": "ab3c"}}, True),
        ({"value": r"^user-\d+$"}, {}, False),
        ({"value": r"(unclosed"}, {"properties": {"f": "(unclosed"}}, False),
    ],
)
def test_regex_operator(
    constraint: dict[str, object], context: dict[str, object], expected: bool
) -> None:
    flags = _constraint_flag(contextName="f", operator="REGEX", **constraint)
    assert flags.is_enabled("f", context) is expected


@pytest.mark.parametrize(
    ("values", "address", "expected"),
    [
        (["10.0.0.0/8"], "10.20.30.40", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["192.168.1.0/24", "2001:db8::/32"], "2001:db8::1", True),
        (["192.168.1.0/24", "2001:db8::/32"], "2001:db9::1", False),
        (["127.0.0.1"], "127.0.0.1", True),
        (["not-a-cidr", "172.16.0.0/12"], "172.20.1.1", True),
        (["10.0.0.0/8"], "not-an-ip", False),
    ],
)
def test_in_cidr_operator(values: list[str], address: str, expected: bool) -> None:
    flags = _constraint_flag(contextName="remoteAddress", operator="IN_CIDR", values=values)
    assert flags.is_enabled("f", {"remoteAddress": address}) is expected
    assert flags.is_enabled("f", {"remote_address": address}) is expected


def test_remote_address_strategy_accepts_cidr() -> None:
    flags = FeatureFlags.from_unleash(
        {
            "features": [
                {
                    "name": "f",
                    "enabled": True,
                    "strategies": [{"name": "remoteAddress", "parameters": {"IPs": "10.1.0.0/16"}}],
                }
            ]
        }
    )
    assert flags.is_enabled("f", {"remoteAddress": "10.1.2.3"})
    assert not flags.is_enabled("f", {"remoteAddress": "10.2.2.3"})


@pytest.mark.parametrize("target", [5, 25, 50, 90])
def test_rollout_distribution_over_100k_users(target: int) -> None:
    flags = FeatureFlags(
        [Flag("r", strategies=(Strategy("flexibleRollout", {"rollout": str(target)}),))]
    )
    rng = random.Random(target)
    users = [f"{rng.getrandbits(64):x}" for _ in range(100_000)]
    share = sum(flags.is_enabled("r", {"userId": u}) for u in users) / len(users) * 100
    assert abs(share - target) <= 1.0


def test_variant_weights_distribution() -> None:
    flags = FeatureFlags(
        [
            Flag(
                "ab",
                variants=(
                    VariantDefinition("a", 200),
                    VariantDefinition("b", 300),
                    VariantDefinition("c", 500),
                ),
            )
        ]
    )
    counts = {"a": 0, "b": 0, "c": 0}
    for u in range(30_000):
        counts[flags.get_variant("ab", {"userId": str(u)}).name] += 1
    assert abs(counts["a"] / 30_000 - 0.2) < 0.015
    assert abs(counts["b"] / 30_000 - 0.3) < 0.015
    assert abs(counts["c"] / 30_000 - 0.5) < 0.015


def test_stickiness_on_any_field_and_fallbacks() -> None:
    flags = FeatureFlags.from_dict(
        {"flags": {"t": {"rollout": 50, "stickiness": "tenantId"}, "d": {"rollout": 50}}}
    )
    # same tenant, different users -> same answer
    answers = {flags.is_enabled("t", {"userId": str(u), "tenantId": "acme"}) for u in range(50)}
    assert len(answers) == 1
    # custom stickiness missing -> off (as Unleash)
    assert not flags.is_enabled("t", {"userId": "1"})
    # default stickiness: userId, else sessionId
    by_session = flags.is_enabled("d", {"sessionId": "s-1"})
    assert by_session == (normalized_value("s-1", "d") <= 50)


def test_snake_case_context_keys() -> None:
    flags = FeatureFlags.from_dict({"flags": {"u": {"users": ["alice"]}, "s": {"rollout": 100}}})
    assert flags.is_enabled("u", {"user_id": "alice"})
    assert flags.is_enabled("u", {"userId": "alice"})
    assert not flags.is_enabled("u", {"user_id": "bob"})
    assert flags.is_enabled("s", {"session_id": "x"})


def test_evaluate_reasons() -> None:
    flags = FeatureFlags.from_dict(
        {
            "flags": {
                "static": {},
                "off": {"enabled": False, "rollout": 100},
                "users": {"users": ["alice"]},
                "split": {"rollout": 50},
                "ab": {
                    "variants": [{"name": "x", "payload": "blue"}, {"name": "y", "payload": "red"}]
                },
            }
        }
    )
    assert flags.evaluate("static").reason is Reason.STATIC
    off = flags.evaluate("off", {"userId": "a"})
    assert (off.value, off.reason) == (False, Reason.DISABLED)
    hit = flags.evaluate("users", {"userId": "alice"})
    assert (hit.value, hit.reason, hit.rule) == (
        True,
        Reason.TARGETING_MATCH,
        "strategies[0]:userWithId",
    )
    miss = flags.evaluate("users", {"userId": "bob"})
    assert (miss.value, miss.reason) == (False, Reason.DEFAULT)
    user = next(u for u in range(100) if flags.is_enabled("split", {"userId": str(u)}))
    assert flags.evaluate("split", {"userId": str(user)}).reason is Reason.SPLIT
    colour = flags.evaluate("ab", {"userId": "7"}, "none")
    assert colour.value in ("blue", "red") and colour.reason is Reason.SPLIT
    assert colour.variant in ("x", "y")
    missing = flags.evaluate("nope", {}, "fallback")
    assert (missing.value, missing.reason, missing.error_code) == (
        "fallback",
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
    )
    wrong = flags.evaluate("ab", {"userId": "7"}, 3)
    assert (wrong.value, wrong.error_code) == (3, ErrorCode.TYPE_MISMATCH)


def test_typed_payloads() -> None:
    flags = FeatureFlags.from_dict(
        {
            "flags": {
                "n": {"variants": [{"name": "v", "payload": {"type": "number", "value": "2.5"}}]},
                "i": {"variants": [{"name": "v", "payload": 7}]},
                "j": {"variants": [{"name": "v", "payload": {"limits": [1, 2]}}]},
                "bad": {"variants": [{"name": "v", "payload": {"type": "json", "value": "{"}}]},
            }
        }
    )
    assert flags.evaluate("n", None, 1.0).value == 2.5
    assert flags.evaluate("i", None, 0).value == 7
    assert flags.evaluate("j", None, {}).value == {"limits": [1, 2]}
    assert flags.evaluate("bad", None, {}).error_code is ErrorCode.PARSE_ERROR
    plain = FeatureFlags.from_dict({"flags": {"p": {"variants": [{"name": "only"}]}}})
    no_payload = plain.evaluate("p", None, 5)
    assert (no_payload.value, no_payload.reason, no_payload.variant) == (5, Reason.DEFAULT, "only")
    assert plain.evaluate("p", None, "").value == "only"
    assert flags.get_variant("j").payload is not None


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(),
        st.lists(st.integers()),
        st.dictionaries(
            st.sampled_from(
                ["userId", "sessionId", "remoteAddress", "currentTime", "properties", "x"]
            ),
            st.one_of(
                st.none(),
                st.integers(),
                st.text(),
                st.floats(),
                st.lists(st.text()),
                st.dictionaries(st.text(), st.text()),
            ),
        ),
    )
)
@settings(max_examples=200, deadline=None)
def test_bad_context_never_raises(context: object) -> None:
    flags = _ALL_OPERATORS
    for name in flags.list_flags():
        assert isinstance(flags.is_enabled(name.name, context, default=True), bool)  # type: ignore[arg-type]
        assert flags.get_variant(name.name, context).name  # type: ignore[arg-type]
        details = flags.evaluate(name.name, context)  # type: ignore[arg-type]
        assert isinstance(details.value, bool)


_ALL_OPERATORS = FeatureFlags.from_unleash(
    {
        "features": [
            {
                "name": f"op-{op}",
                "enabled": True,
                "strategies": [
                    {
                        "name": "flexibleRollout",
                        "parameters": {"rollout": "50", "stickiness": "x"},
                        "constraints": [
                            {"contextName": ctx, "operator": op, "values": values, "value": value}
                        ],
                    }
                ],
                "variants": [{"name": "a", "weight": 1}],
            }
            for op, ctx, values, value in [
                ("IN", "x", ["1"], None),
                ("NOT_IN", "userId", ["1"], None),
                ("STR_CONTAINS", "x", ["a"], None),
                ("NUM_GT", "x", [], "3"),
                ("DATE_AFTER", "currentTime", [], "2020-01-01T00:00:00Z"),
                ("SEMVER_GTE", "x", [], "1.0.0"),
                ("REGEX", "x", [], "a+"),
                ("IN_CIDR", "remoteAddress", ["10.0.0.0/8"], None),
            ]
        ]
    }
)


def test_invalid_context_is_reported() -> None:
    details = _ALL_OPERATORS.evaluate("op-IN", ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert details.error_code is ErrorCode.INVALID_CONTEXT
    assert _ALL_OPERATORS.is_enabled("op-IN", 42, default=True) is True  # type: ignore[arg-type]


def test_time_window_and_date_constraints() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [start - timedelta(seconds=1)]
    flags = FeatureFlags.from_dict(
        {"flags": {"sale": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00+00:00"}}},
        clock=lambda: now[0],
    )
    assert not flags.is_enabled("sale")
    assert flags.evaluate("sale").rule == "window"
    now[0] = start
    assert flags.is_enabled("sale")
    now[0] = start + timedelta(days=1)
    assert not flags.is_enabled("sale")
    # currentTime from the context wins over the clock
    assert flags.is_enabled("sale", {"currentTime": "2026-01-01T12:00:00Z"})
    assert flags.is_enabled("sale", {"current_time": datetime(2026, 1, 1, 12, tzinfo=UTC)})


def test_user_overrides_and_kill_switch() -> None:
    flags = FeatureFlags.from_dict(
        {"flags": {"beta": {"users": ["alice"], "overrides": {"bob": True, "alice": False}}}}
    )
    assert flags.is_enabled("beta", {"userId": "bob"})
    assert not flags.is_enabled("beta", {"userId": "alice"})
    assert flags.evaluate("beta", {"userId": "bob"}).rule == "override"
    flags.kill("beta", actor="oncall", reason="incident")
    assert not flags.is_enabled("beta", {"userId": "bob"})
    assert flags.evaluate("beta", {"userId": "bob"}).reason is Reason.DISABLED


def test_dependencies() -> None:
    flags = FeatureFlags.from_dict(
        {
            "flags": {
                "parent": {"users": ["alice"]},
                "child": {"depends_on": ["parent"]},
                "not-parent": {"depends_on": [{"feature": "parent", "enabled": False}]},
                "grandchild": {"depends_on": ["child"]},
            }
        }
    )
    assert flags.is_enabled("child", {"userId": "alice"})
    assert not flags.is_enabled("child", {"userId": "bob"})
    assert flags.evaluate("child", {"userId": "bob"}).rule == "dependency:parent"
    assert flags.is_enabled("not-parent", {"userId": "bob"})
    # transitive dependencies are not followed (Unleash's rule)
    assert not flags.is_enabled("grandchild", {"userId": "alice"})


def test_variant_override_and_json_shape() -> None:
    flags = FeatureFlags.from_dict(
        {
            "flags": {
                "v": {
                    "variants": [
                        {"name": "a", "weight": 1},
                        {
                            "name": "b",
                            "weight": 1,
                            "payload": "x",
                            "overrides": [{"contextName": "userId", "values": ["vip"]}],
                        },
                    ]
                }
            }
        }
    )
    assert flags.get_variant("v", {"userId": "vip"}).to_dict() == {
        "name": "b",
        "enabled": True,
        "feature_enabled": True,
        "payload": {"type": "string", "value": "x"},
    }
    assert flags.evaluate("v", {"userId": "vip"}, "").reason is Reason.TARGETING_MATCH
    assert flags.get_variant("missing").to_dict() == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": False,
    }


@pytest.mark.parametrize("rollout", ["0", "1", "33.5", "50", "99.9", "100", "nan", "abc", "-5"])
def test_rollout_threshold_matches_unleash_formula(rollout: str) -> None:
    flags = FeatureFlags.from_unleash(
        {
            "features": [
                {
                    "name": "r",
                    "enabled": True,
                    "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": rollout}}],
                }
            ]
        }
    )
    try:
        percent = float(rollout)
    except ValueError:
        percent = -1.0
    for user in range(300):
        expected = percent > 0 and normalized_value(str(user), "r") <= percent
        assert flags.is_enabled("r", {"userId": str(user)}) is expected


def test_static_context_fills_missing_fields() -> None:
    state = {
        "features": [
            {
                "name": "prod-only",
                "enabled": True,
                "strategies": [
                    {
                        "name": "default",
                        "constraints": [
                            {
                                "contextName": "environment",
                                "operator": "IN",
                                "values": ["production"],
                            },
                            {"contextName": "appName", "operator": "IN", "values": ["erp"]},
                        ],
                    }
                ],
            }
        ]
    }
    plain = FeatureFlags.from_unleash(state)
    assert not plain.is_enabled("prod-only")
    flags = FeatureFlags.from_unleash(
        state, static_context={"environment": "production", "app_name": "erp"}
    )
    assert flags.is_enabled("prod-only")
    assert flags.is_enabled("prod-only", {"userId": "1"})
    # the context wins over the static context
    assert not flags.is_enabled("prod-only", {"environment": "staging"})
    with pytest.raises(TypeError, match="must be a string"):
        FeatureFlags(static_context={"environment": 1})  # type: ignore[dict-item]


def _one(constraint: dict[str, object], **context: object) -> bool:
    return _constraint_flag(**constraint).is_enabled("f", context)


def test_semantics_shared_with_unleash_engine() -> None:
    # an empty string is a value, not a missing field
    assert _one({"contextName": "userId", "operator": "IN", "values": [""]}, userId="")
    assert not _one({"contextName": "userId", "operator": "IN", "values": [""]})
    # numbers: no surrounding blanks, no underscores
    num = {"contextName": "x", "operator": "NUM_EQ", "value": "5"}
    assert _one(num, x="5") and _one(num, x="5.0") and _one(num, x="+5") and _one(num, x="5e0")
    assert not _one(num, x=" 5") and not _one(num, x="5 ") and not _one(num, x="5_0")
    # dates on another field compare that field; a date alone is not a date-time
    signup = {"contextName": "signup", "operator": "DATE_AFTER", "value": "2024-01-01T00:00:00Z"}
    assert _one(signup, signup="2024-06-01T00:00:00Z")
    assert not _one(signup, signup="2023-06-01T00:00:00Z")
    assert not _one(signup)  # missing: not "now"
    assert not _one(signup, signup="2024-06-01")
    # currentTime defaults to now for every operator
    assert _one({"contextName": "currentTime", "operator": "STR_STARTS_WITH", "values": ["20"]})
    # an unknown operator never matches, even inverted
    assert not _one(
        {"contextName": "x", "operator": "NOPE", "values": ["a"], "inverted": True}, x="b"
    )


def test_variant_default_stickiness_is_user_then_session() -> None:
    flags = FeatureFlags(
        [Flag("v", variants=tuple(VariantDefinition(n, 1) for n in "abcdefgh"))],
        rng=random.Random(1),
    )
    by_user = {
        flags.get_variant("v", {"userId": "u", "remoteAddress": "1.2.3.4"}).name for _ in range(20)
    }
    by_session = {flags.get_variant("v", {"sessionId": "s"}).name for _ in range(20)}
    assert len(by_user) == 1 and len(by_session) == 1
    # remoteAddress is not a stickiness fallback: without user and session it is random
    by_address = {flags.get_variant("v", {"remoteAddress": "1.2.3.4"}).name for _ in range(40)}
    assert len(by_address) > 1
