# ruff: noqa: E402
"""Feature-flag evaluation: ours vs UnleashClient, GrowthBook and OpenFeature in-memory.

The flag: a 50% flexible rollout (userId stickiness) with three constraints (environment IN,
plan IN, seats NUM_GTE). Every peer evaluates the same flag for the same users, offline.
Run: ``.venv/bin/python benchmarks/flags.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import sys
from pathlib import Path

# this folder holds scripts named like standard modules (queue.py): keep them off the path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import mmh3

from erp_professional.flags import FeatureFlags, FeatureFlagsProvider

FLAG = "bench-rollout"
CONSTRAINTS = [
    {"contextName": "environment", "operator": "IN", "values": ["production"]},
    {"contextName": "plan", "operator": "IN", "values": ["pro", "enterprise"]},
    {"contextName": "seats", "operator": "NUM_GTE", "value": "5"},
]
STATE = {
    "version": 1,
    "features": [
        {
            "name": FLAG,
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50", "stickiness": "userId", "groupId": FLAG},
                    "constraints": CONSTRAINTS,
                }
            ],
        }
    ],
}
USERS = [f"user-{i}" for i in range(1000)]


def _contexts() -> list[dict[str, Any]]:
    return [
        {
            "userId": u,
            "environment": "production",
            "properties": {"plan": "pro" if i % 3 else "enterprise", "seats": str(5 + i % 20)},
        }
        for i, u in enumerate(USERS)
    ]


def _time(call: Callable[[int], object], calls: int) -> float:
    n = len(USERS)
    start = time.perf_counter()
    for i in range(calls):
        call(i % n)
    return (time.perf_counter() - start) / calls * 1e6


def ours() -> tuple[Callable[[int], object], list[bool]]:
    flags = FeatureFlags.from_unleash(STATE)
    contexts = _contexts()
    is_enabled = flags.is_enabled
    return (lambda i: is_enabled(FLAG, contexts[i])), [is_enabled(FLAG, c) for c in contexts]


def ours_openfeature() -> tuple[Callable[[int], object], list[bool]]:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    api.set_provider(FeatureFlagsProvider(FeatureFlags.from_unleash(STATE)), domain="ours")
    client = api.get_client("ours")
    contexts = [
        EvaluationContext(c["userId"], {"environment": "production", **c["properties"]})
        for c in _contexts()
    ]
    get = client.get_boolean_value
    return (lambda i: get(FLAG, False, contexts[i])), [get(FLAG, False, c) for c in contexts]


def unleash() -> tuple[Callable[[int], object], list[bool]]:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    directory = tempfile.mkdtemp(prefix="unleash-bench-")
    cache = FileCache("bench", directory=directory)
    cache.bootstrap_from_dict(initial_config=STATE)
    client = UnleashClient(
        url="http://127.0.0.1:9/api",
        app_name="bench",
        environment="production",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
    )
    client.initialize_client(fetch_toggles=False)
    contexts = _contexts()
    check = client.is_enabled
    return (lambda i: check(FLAG, contexts[i])), [check(FLAG, c) for c in contexts]


def growthbook() -> tuple[Callable[[int], object], list[bool]]:
    from growthbook import GrowthBook

    features = {
        FLAG: {
            "defaultValue": False,
            "rules": [
                {
                    "condition": {
                        "environment": "production",
                        "plan": {"$in": ["pro", "enterprise"]},
                        "seats": {"$gte": 5},
                    },
                    "force": True,
                    "coverage": 0.5,
                    "hashAttribute": "id",
                }
            ],
        }
    }
    gb = GrowthBook(features=features)
    attributes = [
        {
            "id": c["userId"],
            "environment": "production",
            "plan": c["properties"]["plan"],
            "seats": int(c["properties"]["seats"]),
        }
        for c in _contexts()
    ]

    def call(i: int) -> bool:
        gb.set_attributes(attributes[i])
        return bool(gb.is_on(FLAG))

    return call, [call(i) for i in range(len(USERS))]


def openfeature_in_memory() -> tuple[Callable[[int], object], list[bool]]:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    def rollout(flag: InMemoryFlag[bool], ctx: EvaluationContext) -> FlagResolutionDetails[bool]:
        a = ctx.attributes
        on = (
            a.get("environment") == "production"
            and a.get("plan") in ("pro", "enterprise")
            and float(str(a.get("seats", "0"))) >= 5
            and mmh3.hash(f"{FLAG}:{ctx.targeting_key}", 0, signed=False) % 100 + 1 <= 50
        )
        return FlagResolutionDetails(on, variant="on" if on else "off", reason=Reason.SPLIT)

    flag = InMemoryFlag("off", {"on": True, "off": False}, context_evaluator=rollout)
    api.set_provider(InMemoryProvider({FLAG: flag}), domain="in-memory")
    client = api.get_client("in-memory")
    contexts = [
        EvaluationContext(c["userId"], {"environment": "production", **c["properties"]})
        for c in _contexts()
    ]
    get = client.get_boolean_value
    return (lambda i: get(FLAG, False, contexts[i])), [get(FLAG, False, c) for c in contexts]


AB = "bench-ab"
AB_STATE = {
    "version": 1,
    "features": [
        {
            "name": AB,
            "enabled": True,
            "strategies": [{"name": "default"}],
            "variants": [
                {
                    "name": n,
                    "weight": 1,
                    "stickiness": "default",
                    "payload": {"type": "string", "value": n},
                }
                for n in ("a", "b", "c")
            ],
        }
    ],
}


def ours_variant() -> tuple[Callable[[int], object], list[str]]:
    flags = FeatureFlags.from_unleash(AB_STATE, exposure_sample_rate=0.0)
    contexts = [{"userId": u} for u in USERS]
    get = flags.get_variant
    return (lambda i: get(AB, contexts[i])), [get(AB, c).name for c in contexts]


def unleash_variant() -> tuple[Callable[[int], object], list[str]]:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    cache = FileCache("bench-ab", directory=tempfile.mkdtemp(prefix="unleash-bench-"))
    cache.bootstrap_from_dict(initial_config=AB_STATE)
    client = UnleashClient(
        url="http://127.0.0.1:9/api",
        app_name="bench-ab",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
    )
    client.initialize_client(fetch_toggles=False)
    contexts = [{"userId": u} for u in USERS]
    get = client.get_variant
    return (lambda i: get(AB, contexts[i])), [get(AB, c)["name"] for c in contexts]


def growthbook_variant() -> tuple[Callable[[int], object], list[str]]:
    from growthbook import GrowthBook

    features = {
        AB: {
            "defaultValue": "control",
            "rules": [{"key": AB, "variations": ["a", "b", "c"], "hashAttribute": "id"}],
        }
    }
    gb = GrowthBook(features=features)
    attributes = [{"id": u} for u in USERS]

    def call(i: int) -> object:
        gb.set_attributes(attributes[i])
        return gb.get_feature_value(AB, "control")

    return call, [str(call(i)) for i in range(len(USERS))]


VARIANT_PEERS: dict[str, Callable[[], tuple[Callable[[int], object], list[str]]]] = {
    "UnleashClient": unleash_variant,
    "growthbook": growthbook_variant,
}

PEERS: dict[str, Callable[[], tuple[Callable[[int], object], list[bool]]]] = {
    "UnleashClient": unleash,
    "growthbook": growthbook,
    "openfeature-in-memory": openfeature_in_memory,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats")
    args = parser.parse_args()
    calls, repeats = (5_000, 3) if args.quick else (20_000, 7)
    logging.disable(logging.WARNING)

    ours_call, ours_answers = ours()
    runs: dict[str, Callable[[int], object]] = {"ours": ours_call}
    share = sum(ours_answers) / len(ours_answers)
    for name, make in PEERS.items():
        try:
            call, answers = make()
        except ImportError as err:
            print(f"# {name} not installed ({err}); skipped")
            continue
        runs[name] = call
        if name == "UnleashClient":
            agree = sum(a == b for a, b in zip(answers, ours_answers, strict=True))
            print(f"# UnleashClient agrees with ours on {agree}/{len(USERS)} users")
        print(f"# {name}: {sum(answers) / len(answers):.1%} of users on (ours {share:.1%})")
    via_of, _ = ours_openfeature()
    runs["ours-via-openfeature"] = via_of
    variant_call, variant_names = ours_variant()
    runs["ours-variant"] = variant_call
    for name, make_variant in VARIANT_PEERS.items():
        try:
            call_v, names = make_variant()
        except ImportError as err:
            print(f"# {name} not installed ({err}); skipped")
            continue
        runs[f"{name}-variant"] = call_v
        if name == "UnleashClient":
            agree = sum(a == b for a, b in zip(names, variant_names, strict=True))
            print(f"# UnleashClient gives the same variant as ours to {agree}/{len(USERS)} users")

    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, call in runs.items():
            samples[name].append(_time(call, calls))
    medians = {name: statistics.median(values) for name, values in samples.items()}

    mine = medians["ours"]
    print(f"# {calls} calls x {repeats} runs, medians; ratio = peer/ours (>1: ours faster)")
    for name in PEERS:
        if name in medians:
            peer = medians[name]
            print(
                f"is_enabled 50% rollout + 3 constraints: ours={mine:.2f}us "
                f"peer({name})={peer:.2f}us ratio={peer / mine:.1f}x"
            )
    peer = medians.get("openfeature-in-memory")
    if peer is not None:
        print(
            f"OpenFeature client get_boolean_value: ours={medians['ours-via-openfeature']:.2f}us "
            f"peer(openfeature-in-memory)={peer:.2f}us "
            f"ratio={peer / medians['ours-via-openfeature']:.1f}x"
        )
    mine_v = medians["ours-variant"]
    for name in VARIANT_PEERS:
        key = f"{name}-variant"
        if key in medians:
            print(
                f"get_variant 3 weighted variants: ours={mine_v:.2f}us "
                f"peer({name})={medians[key]:.2f}us ratio={medians[key] / mine_v:.1f}x"
            )


if __name__ == "__main__":
    main()
