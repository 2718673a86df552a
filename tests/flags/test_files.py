"""Flags from YAML, JSON and TOML files: validation errors, hot reload, read-only."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import pytest

from erp_professional.flags import (
    FeatureFlags,
    FlagDefinitionError,
    ReadOnlyStoreError,
    State,
    load_file,
)

YAML = """
flags:
  new-checkout:
    description: the new checkout
    rollout: 100
    constraints:
      - {contextName: country, operator: IN, values: ["NO", SE]}
  dark-mode:
    enabled: false
  banner:
    variants:
      - {name: blue, weight: 1, payload: {type: string, value: "#00f"}}
"""

TOML = """
[flags.new-checkout]
rollout = 100
constraints = [{ contextName = "country", operator = "IN", values = ["NO", "SE"] }]

[flags.dark-mode]
enabled = false

[flags.banner]
variants = [{ name = "blue", payload = { type = "string", value = "#00f" } }]
"""

JSON = json.dumps(
    {
        "flags": {
            "new-checkout": {
                "rollout": 100,
                "constraints": [
                    {"contextName": "country", "operator": "IN", "values": ["NO", "SE"]}
                ],
            },
            "dark-mode": {"enabled": False},
            "banner": {
                "variants": [{"name": "blue", "payload": {"type": "string", "value": "#00f"}}]
            },
        }
    }
)


@pytest.mark.parametrize(("suffix", "text"), [(".yaml", YAML), (".toml", TOML), (".json", JSON)])
def test_each_format_gives_the_same_flags(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"flags{suffix}"
    path.write_text(text, encoding="utf-8")
    flags = FeatureFlags.from_file(path)
    assert flags.state is State.READY
    assert flags.is_enabled("new-checkout", {"userId": "1", "properties": {"country": "NO"}})
    assert not flags.is_enabled("new-checkout", {"userId": "1", "properties": {"country": "DK"}})
    assert not flags.is_enabled("dark-mode")
    assert flags.get_variant("banner").payload is not None
    assert flags.evaluate("banner", None, "").value == "#00f"


def test_unleash_document_file(tmp_path: Path) -> None:
    path = tmp_path / "features.json"
    path.write_text(
        json.dumps({"version": 1, "features": [{"name": "a", "enabled": True, "strategies": []}]})
    )
    assert FeatureFlags.from_file(path).is_enabled("a")


@pytest.mark.parametrize(
    ("spec", "flag", "field", "words"),
    [
        ({"rollout": 150}, "x", "rollout", "0-100"),
        ({"rollout": "half"}, "x", "rollout", "percentage"),
        ({"enabled": "yes"}, "x", "enabled", "true or false"),
        ({"start": "tomorrow"}, "x", "start", "ISO 8601"),
        ({"start": "2026-01-01T00:00:00"}, "x", "start", "timezone"),
        (
            {"constraints": [{"contextName": "a", "operator": "LIKE", "values": []}]},
            "x",
            "constraints[0].operator",
            "unknown operator",
        ),
        (
            {"strategies": [{"name": "default", "constraints": [{"operator": "IN"}]}]},
            "x",
            "strategies[0].constraints[0].contextName",
            "required",
        ),
        ({"variants": [{"name": "a", "weight": -1}]}, "x", "variants[0].weight", "non-negative"),
        ({"variants": [{"weight": 1}]}, "x", "variants[0].name", "required"),
        ({"colour": "red"}, "x", "colour", "unknown field"),
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "x", "end", "after"),
    ],
)
def test_bad_definitions_name_flag_and_field(
    tmp_path: Path, spec: dict[str, object], flag: str, field: str, words: str
) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": {"ok": {}, flag: spec}}))
    with pytest.raises(FlagDefinitionError) as info:
        load_file(path)
    err = info.value
    assert (err.flag, err.field) == (flag, field)
    assert str(path) in str(err) and repr(flag) in str(err) and repr(field) in str(err)
    assert words in str(err)


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("bad.yaml", "flags: [unclosed", "invalid yaml"),
        ("bad.json", "{", "invalid json"),
        ("bad.toml", "flags = ", "invalid toml"),
        ("bad.ini", "[flags]", "unsupported file type"),
        ("bad2.yaml", "- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FlagDefinitionError, match=words) as info:
        FeatureFlags.from_file(path)
    assert str(path) in str(info.value)


def test_yaml_booleans_in_values_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(
        "flags:\n  x:\n    constraints:\n"
        "      - {contextName: country, operator: IN, values: [NO]}\n"
    )
    with pytest.raises(FlagDefinitionError, match=r"constraints\[0\]\.values\[0\].*got bool"):
        load_file(path)


def test_yaml_boolean_flag_names_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("flags:\n  off:\n    enabled: false\n")
    with pytest.raises(FlagDefinitionError, match="quote names"):
        load_file(path)


def _rewrite(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    # make the change visible even on coarse file-system clocks
    os.utime(path, ns=(before + 10_000_000, before + 10_000_000))


def test_hot_reload_and_bad_edit_keeps_previous_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("flags:\n  a: {enabled: true}\n")
    threads = _flag_threads()
    flags = FeatureFlags.from_file(path, poll_interval=0.0)
    changes = []
    flags.on_change(changes.append)
    assert flags.is_enabled("a")

    _rewrite(path, "flags:\n  a: {enabled: false}\n  b: {}\n")
    assert not flags.is_enabled("a")
    assert flags.is_enabled("b")
    assert changes[-1].names == {"a", "b"}

    with caplog.at_level(logging.ERROR, logger="erp_professional.flags"):
        _rewrite(path, "flags:\n  a: {rollout: 400}\n")
        assert not flags.is_enabled("a")  # previous snapshot kept
        assert flags.is_enabled("b")
    assert flags.state is State.STALE
    assert "'a'" in caplog.text and "'rollout'" in caplog.text
    assert isinstance(flags.last_error, FlagDefinitionError)

    _rewrite(path, "flags:\n  a: {}\n")
    assert flags.is_enabled("a")
    assert not flags.is_enabled("b")
    assert flags.state is State.READY
    # polling happens on the evaluating thread: no thread was started
    assert _flag_threads() <= threads


def test_file_store_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("flags:\n  a: {}\n")
    flags = FeatureFlags.from_file(path)
    with pytest.raises(ReadOnlyStoreError, match="edit the file"):
        flags.set_flag("a", {"enabled": False})
    assert flags.is_enabled("a")


def test_bootstrap_file_with_bad_main_file(tmp_path: Path) -> None:
    boot = tmp_path / "boot.json"
    boot.write_text(json.dumps({"flags": {"a": {}}}))
    main = tmp_path / "flags.json"
    main.write_text("{")
    flags = FeatureFlags.from_file(main, bootstrap=boot)
    assert flags.state is State.STALE
    assert flags.is_enabled("a")


def test_missing_pyyaml_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from erp_professional.connections import MissingDependencyError

    path = tmp_path / "flags.yaml"
    path.write_text("flags: {}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(MissingDependencyError, match=r"erp-professional\[flags\]"):
        load_file(path)


def _flag_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "erp-pro-flags-listener"}
