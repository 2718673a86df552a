import json
import subprocess
import sys
from pathlib import Path

import pytest

from erp_professional import __version__
from erp_professional.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"erp-professional {__version__}"


def test_config_show_masks_nothing_it_should_not_and_is_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_PRO_SERVICE__NAME", "billing")
    assert main(["config", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["service"]["name"] == "billing"
    assert shown["web"]["prefix"] == "/_pro"


def test_config_check_fails_with_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[web]\nprefix = "oops"\n')
    assert main(["--config", str(bad), "config", "check"]) == 2
    assert "web.prefix = 'oops'" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text('[service]\nname = "ok"\n')
    assert main(["--config", str(good), "config", "check"]) == 0


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "erp_professional.cli", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert __version__ in result.stdout
