from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from erp_professional.security import ApiKeys
from erp_professional.security._cli import register, run

PEPPER = "c" * 40


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erp-pro")
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    return parser


def _run(argv: list[str]) -> str:
    args = _parser().parse_args(argv)
    out = io.StringIO()
    assert run(args, out) == 0
    return out.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("ERP_PRO_SECURITY__API_KEYS__STORE_URL", url)
    monkeypatch.setenv("ERP_PRO_SECURITY__API_KEYS__PEPPER", PEPPER)
    return url


def test_create_list_rotate_revoke(store: str) -> None:
    created = json.loads(
        _run(
            [
                "apikeys",
                "create",
                "--name",
                "ci",
                "--scope",
                "deploy",
                "--expires-in",
                "30d",
                "--json",
            ]
        )
    )
    secret = created["key"]
    keys = ApiKeys(store, pepper=PEPPER)
    assert keys.verify(secret, ["deploy"]).name == "ci"
    listing = _run(["apikeys", "list"])
    assert created["id"] in listing and secret not in listing and "active" in listing
    rotated = _run(["apikeys", "rotate", created["id"], "--overlap", "1h"])
    new_secret = rotated.strip().splitlines()[-1]
    assert keys.verify(new_secret).rotated_from == created["id"]
    assert keys.verify(secret).id == created["id"]  # overlap
    revoked = _run(["apikeys", "revoke", created["id"]])
    assert "revoked" in revoked
    listed = json.loads(_run(["apikeys", "list", "--json"]))
    assert {r["id"] for r in listed} == {created["id"], keys.verify(new_secret).id}
    assert all("key" not in r and "hash" not in r for r in listed)


def test_unknown_id_is_exit_1(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["apikeys", "revoke", "nope"])
    assert run(args, io.StringIO()) == 1
    assert "no API key" in capsys.readouterr().err


def test_needs_a_persistent_store_and_pepper(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = _parser().parse_args(["apikeys", "list"])
    with pytest.raises(SystemExit, match="persistent store"):
        run(args, io.StringIO())
    args = _parser().parse_args(["apikeys", "--store-url", f"sqlite:///{tmp_path}/x.db", "list"])
    with pytest.raises(SystemExit, match="pepper"):
        run(args, io.StringIO())


def test_bad_duration_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["apikeys", "create", "--name", "x", "--expires-in", "soon"])


def test_through_the_erp_pro_command(
    store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from erp_professional import cli

    monkeypatch.setattr(cli, "CAPABILITY_COMMANDS", ("erp_professional.security._cli",))
    assert cli.main(["apikeys", "create", "--name", "svc", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert cli.main(["apikeys", "list"]) == 0
    assert created["id"] in capsys.readouterr().out
    assert cli.main(["apikeys", "revoke", created["id"]]) == 0
    assert "revoked" in capsys.readouterr().out
