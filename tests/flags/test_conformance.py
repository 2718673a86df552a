"""Unleash client specification: every test and variant test of every file must pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from erp_professional.flags import FeatureFlags

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "unleash-client-spec"


def _files() -> list[Path]:
    files = sorted(SPEC.glob("*.json"))
    if not files:
        # collected as one failing case: the conformance data must be present
        return [SPEC / "missing.json"]
    return files


def _cases(kind: str) -> list[Any]:
    out = []
    for path in _files():
        if not path.exists():
            out.append(pytest.param(path, None, id=f"{path.name}-missing"))
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        for i, case in enumerate(document.get(kind, [])):
            out.append(pytest.param(path, case, id=f"{path.stem}-{i}"))
    return out


_LOADED: dict[Path, FeatureFlags] = {}


def _flags(path: Path) -> FeatureFlags:
    if path not in _LOADED:
        document = json.loads(path.read_text(encoding="utf-8"))
        _LOADED[path] = FeatureFlags.from_unleash(document["state"])
    return _LOADED[path]


def test_conformance_data_present() -> None:
    assert len(list(SPEC.glob("*.json"))) >= 17, f"no conformance files in {SPEC}"


@pytest.mark.parametrize(("path", "case"), _cases("tests"))
def test_is_enabled(path: Path, case: dict[str, Any] | None) -> None:
    assert case is not None, f"{path} is missing"
    flags = _flags(path)
    result = flags.is_enabled(case["toggleName"], case["context"])
    assert result is case["expectedResult"], case["description"]


@pytest.mark.parametrize(("path", "case"), _cases("variantTests"))
def test_get_variant(path: Path, case: dict[str, Any] | None) -> None:
    assert case is not None, f"{path} is missing"
    flags = _flags(path)
    variant = flags.get_variant(case["toggleName"], case["context"])
    assert variant.to_dict() == case["expectedResult"], case["description"]
    # evaluate() agrees with is_enabled() and get_variant()
    details = flags.evaluate(case["toggleName"], case["context"])
    assert details.value is case["expectedResult"]["feature_enabled"]
