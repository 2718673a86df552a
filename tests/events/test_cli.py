"""``erp-pro events ...`` through an argparse parser built like the real command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from erp_professional.events import EventStore, NewEvent, acting_as
from erp_professional.events._cli import register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="erp-pro")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with EventStore(url) as store:
        with acting_as("ann"):
            store.append("invoice-1", [NewEvent("InvoiceCreated", {"total": 5})])
        store.append(
            "invoice-1", [NewEvent("InvoicePaid", {}, {"actor": "bob", "correlation_id": "r-1"})]
        )
        store.append("customer-1", [NewEvent("CustomerRegistered", {"name": "Zoë"})])
    return url


def test_stats(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["events", "--url", url, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats == {"events": 3, "streams": 2, "last_position": 3, "snapshots": 0}


def test_tail(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["events", "--url", url, "tail", "-n", "2", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["type"] for r in rows] == ["InvoicePaid", "CustomerRegistered"]
    assert rows[1]["data"] == {"name": "Zoë"}
    assert run(["events", "--url", url, "tail", "--after", "0", "--prefix", "invoice-"]) == 0
    out = capsys.readouterr().out
    assert "invoice-1@1  InvoiceCreated actor=ann" in out
    assert "customer-1" not in out


def test_audit(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["events", "--url", url, "audit", "--actor", "bob", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["type"], r["metadata"]["correlation_id"]) for r in rows] == [("InvoicePaid", "r-1")]
    assert run(["events", "--url", url, "audit", "--since", "2000-01-01T00:00:00+00:00"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 3
    assert "3 event(s)" in captured.err
    assert run(["events", "--url", url, "audit", "--since", "2000-01-01"]) == 2
    assert "time zone" in capsys.readouterr().err


def test_replay_rebuilds_a_projection(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "my_projection.py"
    module.write_text(
        "from erp_professional.events import EventStore, ProjectionRunner\n"
        "seen = []\n"
        "def make():\n"
        f"    store = EventStore({url!r})\n"
        "    return ProjectionRunner(store, 'counter', lambda evs, tx: seen.extend(evs))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run(["events", "replay", "my_projection:make"]) == 0
    assert "counter: rebuilt from 3 event(s), checkpoint 3" in capsys.readouterr().out
    assert run(["events", "replay", "my_projection:make", "--resume"]) == 0
    assert "counter: 0 event(s) processed" in capsys.readouterr().out
    assert run(["events", "replay", "my_projection:seen"]) == 2
    assert "not a ProjectionRunner" in capsys.readouterr().err
    sys.modules.pop("my_projection", None)


def test_bad_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["events", "--url", "redis://127.0.0.1:6379/0", "stats"]) == 2
    assert "does not support" in capsys.readouterr().err
