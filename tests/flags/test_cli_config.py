"""``erp-pro flags ...`` and the ``flags`` configuration section."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from erp_professional.config import FlagsConfig, ProfessionalConfig
from erp_professional.flags import FeatureFlags, State
from erp_professional.flags._cli import register

from .conftest import PREFIX


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="erp-pro")
    parser.add_argument("--config")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.yaml"
    path.write_text(
        "flags:\n  beta:\n    users: [alice]\n  'off':\n    enabled: false\n"
        "  ab:\n    variants: [{name: x, payload: hello}]\n"
    )
    return path


def test_list_get_eval_from_a_file(flag_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["flags", "--file", str(flag_file), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["ab\ton\t-", "beta\ton\tuserWithId", "off\toff\t-"]

    assert _run(["flags", "--file", str(flag_file), "get", "beta"]) == 0
    assert json.loads(capsys.readouterr().out)["strategies"][0]["name"] == "userWithId"
    assert _run(["flags", "--file", str(flag_file), "get", "nope"]) == 1

    assert (
        _run(
            ["flags", "--file", str(flag_file), "eval", "beta", "--context", '{"userId": "alice"}']
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["value"], out["reason"], out["rule"]) == (
        True,
        "TARGETING_MATCH",
        "strategies[0]:userWithId",
    )
    assert _run(["flags", "--file", str(flag_file), "eval", "ab"]) == 0
    assert json.loads(capsys.readouterr().out)["variant"]["payload"]["value"] == "hello"


def test_errors_exit_2(flag_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["flags", "--file", str(flag_file), "set", "beta", '{"enabled": false}']) == 2
    assert "edit the file" in capsys.readouterr().err
    assert _run(["flags", "--file", str(flag_file), "eval", "beta", "--context", "{nope"]) == 2
    assert "--context is not valid JSON" in capsys.readouterr().err


def test_set_kill_delete_through_redis(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["flags", "--url", url, "--prefix", PREFIX[url]]
    assert _run([*where, "set", "beta", '{"rollout": 100}', "--actor", "ops"]) == 0
    capsys.readouterr()
    assert _run([*where, "eval", "beta", "--context", '{"userId": "1"}']) == 0
    assert json.loads(capsys.readouterr().out)["value"] is True
    assert _run([*where, "set", "beta", '{"rollout": 500}']) == 2
    assert "rollout" in capsys.readouterr().err
    assert _run([*where, "kill", "beta", "--actor", "oncall", "--reason", "incident"]) == 0
    capsys.readouterr()
    assert _run([*where, "eval", "beta", "--context", '{"userId": "1"}']) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "DISABLED"
    assert _run([*where, "delete", "beta"]) == 0
    assert _run([*where, "delete", "beta"]) == 1
    assert _run([*where, "kill", "beta"]) == 1


def test_config_section_env_and_validation(
    monkeypatch: pytest.MonkeyPatch, flag_file: Path
) -> None:
    monkeypatch.setenv("ERP_PRO_FLAGS__FILE", str(flag_file))
    monkeypatch.setenv("ERP_PRO_FLAGS__EXPOSURE_SAMPLE_RATE", "0.5")
    config = ProfessionalConfig()
    assert config.flags.file == flag_file
    flags = FeatureFlags.from_config(config.flags)
    assert flags.state is State.READY and flags.is_enabled("beta", {"userId": "alice"})
    with pytest.raises(ValidationError, match="url"):
        FlagsConfig(url="ftp://x")
    with pytest.raises(ValidationError, match="exposure_sample_rate"):
        FlagsConfig(exposure_sample_rate=2)
    with pytest.raises(ValidationError, match="colour"):
        FlagsConfig(colour="red")  # type: ignore[call-arg]


def test_from_url_file_scheme(flag_file: Path) -> None:
    flags = FeatureFlags.from_url(f"file://{flag_file}")
    assert flags.is_enabled("beta", {"userId": "alice"})
    assert FeatureFlags.from_config(FlagsConfig(url=f"file://{flag_file}")).is_enabled(
        "beta", {"userId": "alice"}
    )
    assert FeatureFlags.from_url("memory://").list_flags() == []
