"""Any document either parses or fails with FlagDefinitionError naming where."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.flags import FeatureFlags, FlagDefinitionError, parse_document

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=200),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["IN", "REGEX", "IN_CIDR", "2026-01-01T00:00:00Z", "1.2.3", "userId"]),
)
KEYS = st.sampled_from(
    [
        "name",
        "enabled",
        "rollout",
        "users",
        "constraints",
        "strategies",
        "variants",
        "overrides",
        "start",
        "end",
        "depends_on",
        "dependencies",
        "segments",
        "stickiness",
        "contextName",
        "operator",
        "values",
        "value",
        "inverted",
        "caseInsensitive",
        "weight",
        "payload",
        "parameters",
        "feature",
        "id",
        "type",
        "description",
        "group_id",
    ]
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=6), VALUES, max_size=3), st.booleans())
@settings(max_examples=200, deadline=None)
def test_our_documents(flags: dict[str, Any], unleash_shape: bool) -> None:
    document: dict[str, Any]
    if unleash_shape:
        document = {
            "features": [{"name": k, **v} if isinstance(v, dict) else v for k, v in flags.items()]
        }
    else:
        document = {"flags": flags}
    try:
        parsed, _ = parse_document(document)
    except FlagDefinitionError as err:
        failure = err
    else:
        failure = None
    if failure is not None:
        assert str(failure)
        return
    # whatever parsed also evaluates without raising
    instance = FeatureFlags(parsed)
    for name in parsed:
        instance.is_enabled(name, {"userId": "u", "remoteAddress": "10.0.0.1"})
        instance.get_variant(name, {"userId": "u"})
        instance.evaluate(name, {"userId": "u"}, "")


CONSTRAINT = st.fixed_dictionaries(
    {},
    optional={
        "contextName": st.one_of(SCALARS, st.sampled_from(["userId", "x", "currentTime"])),
        "operator": st.one_of(
            st.sampled_from(
                [
                    "IN",
                    "NOT_IN",
                    "STR_CONTAINS",
                    "NUM_GT",
                    "DATE_AFTER",
                    "SEMVER_LT",
                    "REGEX",
                    "IN_CIDR",
                    "BOGUS",
                ]
            ),
            SCALARS,
        ),
        "values": st.one_of(st.lists(SCALARS, max_size=3), SCALARS),
        "value": SCALARS,
        "inverted": SCALARS,
        "caseInsensitive": SCALARS,
    },
)
VARIANT = st.fixed_dictionaries(
    {},
    optional={
        "name": SCALARS,
        "weight": SCALARS,
        "stickiness": SCALARS,
        "payload": VALUES,
        "overrides": st.one_of(
            st.lists(
                st.fixed_dictionaries({}, optional={"contextName": SCALARS, "values": VALUES}),
                max_size=2,
            ),
            SCALARS,
        ),
    },
)
STRATEGY = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(
            st.sampled_from(
                [
                    "default",
                    "flexibleRollout",
                    "userWithId",
                    "remoteAddress",
                    "gradualRolloutRandom",
                    "applicationHostname",
                ]
            ),
            SCALARS,
        ),
        "parameters": st.one_of(
            st.dictionaries(
                st.sampled_from(
                    [
                        "rollout",
                        "stickiness",
                        "groupId",
                        "userIds",
                        "IPs",
                        "percentage",
                        "hostNames",
                    ]
                ),
                SCALARS,
            ),
            SCALARS,
        ),
        "constraints": st.one_of(st.lists(CONSTRAINT, max_size=3), SCALARS),
        "segments": st.one_of(st.lists(SCALARS, max_size=2), SCALARS),
        "variants": st.one_of(st.lists(VARIANT, max_size=3), SCALARS),
        "disabled": SCALARS,
    },
)
SPEC = st.fixed_dictionaries(
    {},
    optional={
        "enabled": SCALARS,
        "rollout": SCALARS,
        "stickiness": SCALARS,
        "users": st.one_of(st.lists(SCALARS, max_size=3), SCALARS),
        "constraints": st.one_of(st.lists(CONSTRAINT, max_size=3), SCALARS),
        "strategies": st.one_of(st.lists(STRATEGY, max_size=3), SCALARS),
        "variants": st.one_of(st.lists(VARIANT, max_size=3), SCALARS),
        "overrides": st.one_of(st.dictionaries(st.text(max_size=3), SCALARS, max_size=2), SCALARS),
        "start": SCALARS,
        "end": SCALARS,
        "depends_on": st.one_of(st.lists(st.one_of(SCALARS, VALUES), max_size=2), SCALARS),
    },
)


@given(SPEC, st.booleans())
@settings(max_examples=200, deadline=None)
def test_structured_specs(spec: dict[str, Any], strict: bool) -> None:
    try:
        parsed, _ = parse_document({"flags": {"f": spec}}, strict=strict)
    except FlagDefinitionError as err:
        failure = err
    else:
        failure = None
    if failure is not None:
        assert failure.flag == "f"
        return
    instance = FeatureFlags(parsed)
    instance.is_enabled("f", {"userId": "u", "x": "1.2.3"})
    instance.get_variant("f", {"userId": "u"})
    instance.evaluate("f", {"userId": "u"}, 0)
