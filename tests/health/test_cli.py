"""``erp-pro health``: through an argparse parser, and as a process against real uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from erp_professional import connections
from erp_professional.health._cli import register

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erp-pro")
    parser.add_argument("--config")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    result: int = args.func(args)
    return result


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def test_parser_options() -> None:
    args = _parser().parse_args(["health"])
    assert args.kind == "readiness" and args.url is None and args.app is None
    args = _parser().parse_args(["health", "--kind", "all", "--exclude", "a", "--exclude", "b"])
    assert args.kind == "all" and args.exclude == ["a", "b"]
    with pytest.raises(SystemExit):
        _parser().parse_args(["health", "--kind", "ready"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["health", "--url", "http://x", "--app", "m:a"])


def test_local_configured_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    monkeypatch.setenv("ERP_PRO_HEALTH__DEPENDENCIES", json.dumps({"cache": redis_url}))
    assert _run("health") == 0
    out = capsys.readouterr().out
    assert "[+]cache ok" in out and out.endswith("readyz check passed\n")
    port = _free_port()
    monkeypatch.setenv(
        "ERP_PRO_HEALTH__DEPENDENCIES", json.dumps({"cache": f"redis://127.0.0.1:{port}/0"})
    )
    assert _run("health", "--json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "fail"
    assert "Connection refused" in doc["checks"]["cache:status"][0]["output"]
    assert _run("health", "--exclude", "cache", "--quiet") == 0
    assert capsys.readouterr().out == ""
    connections.shutdown()


def test_local_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "svc_health_cli.py").write_text(
        textwrap.dedent(
            """
            from erp_professional.health import HealthRegistry, CheckResult

            from fastapi import FastAPI

            from erp_professional import integrate

            registry = HealthRegistry()
            registry.register("db", lambda: CheckResult.fail("db is down"))
            registry.register("ping", lambda: True, kinds=("liveness",))

            app = FastAPI()
            pro = integrate(app, security__enabled=False, observability__enabled=False)
            pro.health.register("search", lambda: CheckResult.warn("slow"))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _run("health", "--app", "svc_health_cli:registry") == 1
    assert "[-]db failed: db is down" in capsys.readouterr().out
    assert _run("health", "--app", "svc_health_cli:registry", "--kind", "liveness") == 0
    capsys.readouterr()
    for target in ("svc_health_cli:app", "svc_health_cli:pro"):
        assert _run("health", "--app", target) == 0
        assert "[+]search warn: slow" in capsys.readouterr().out
    assert _run("health", "--app", "svc_health_cli:nothing") == 2
    assert "has no attribute" in capsys.readouterr().err
    assert _run("health", "--app", "svc_health_cli") == 2
    assert "MODULE:ATTR" in capsys.readouterr().err


def test_unreachable_url_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    assert _run("health", "--url", f"http://127.0.0.1:{port}") == 1
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/_pro/readyz?verbose=1 is unreachable" in err
    assert _run("health", "--url", "ftp://127.0.0.1") == 2


SERVED_APP = """
import os
from erp_professional import integrate
from erp_professional.health import CheckResult


async def app(scope, receive, send):
    if scope["type"] != "http":
        raise RuntimeError("plain http app")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


pro = integrate(app, security__enabled=False)
state_file = os.environ["HEALTH_STATE_FILE"]


def flag():
    with open(state_file) as handle:
        up = handle.read().strip() == "up"
    return CheckResult.ok() if up else CheckResult.fail("flag file says down")


pro.health.register("flag", flag)


def closed():
    with open(state_file + ".closed", "w") as handle:
        handle.write("closed")


pro.on_shutdown(closed)
"""


@pytest.fixture
def served(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, Path]]:
    """A real uvicorn server on 127.0.0.1 serving an integrated app."""
    with _serve(tmp_path, {"ERP_PRO_HEALTH__DEPENDENCIES": json.dumps({"redis": redis_url})}) as (
        base,
        state,
        _,
    ):
        yield base, state


@contextlib.contextmanager
def _serve(
    tmp_path: Path, extra_env: dict[str, str]
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    (tmp_path / "served_health_app.py").write_text(SERVED_APP)
    state = tmp_path / "state"
    state.write_text("up")
    port = _free_port()
    env = {
        **os.environ,
        "HEALTH_STATE_FILE": str(state),
        "ERP_PRO_HEALTH__CACHE_TTL": "0",
        "ERP_PRO_HEALTH__DETAILS_TOKEN": "tok",
        **extra_env,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "served_health_app:pro",
            "--app-dir",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", state, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERP_PRO_")}
    return subprocess.run(
        [sys.executable, "-m", "erp_professional.health._cli", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_cli_against_a_running_uvicorn(
    served: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, state = served
    ok = _cli("--url", base, "--token", "tok")  # the command as a process
    assert ok.returncode == 0, ok.stderr
    assert "[+]redis ok" in ok.stdout and "[+]flag ok" in ok.stdout
    assert "[+]event_loop:lag ok" in ok.stdout
    assert _run("health", "--url", base) == 0
    assert "redis" not in capsys.readouterr().out  # no token: no details
    assert _run("health", "--url", base, "--kind", "liveness") == 0
    state.write_text("down")
    down = _cli("--url", base, "--token", "tok")
    assert down.returncode == 1
    assert "[-]flag failed: flag file says down" in down.stdout
    assert _run("health", "--url", base, "--exclude", "flag") == 0
    capsys.readouterr()
    assert _run("health", "--url", base, "--kind", "all", "--token", "tok") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["checks"]["flag:status"][0]["status"] == "fail"
    assert _run("health", "--url", f"{base}/_pro/livez") == 0
    assert "livez check passed" in capsys.readouterr().out


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_sigterm_drains_readiness_before_uvicorn_stops(tmp_path: Path) -> None:
    env = {"ERP_PRO_HEALTH__DRAIN_ON_SIGTERM": "true", "ERP_PRO_HEALTH__DRAIN_DELAY": "1.5"}
    with _serve(tmp_path, env) as (base, state, proc):
        assert _status(f"{base}/_pro/readyz") == 200
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 1
        while _status(f"{base}/_pro/readyz") != 503:
            assert time.monotonic() < deadline, "readiness did not fail after SIGTERM"
            time.sleep(0.02)
        assert _status(f"{base}/_pro/livez") == 200
        assert proc.poll() is None  # still serving during the drain delay
        # Then uvicorn's own graceful shutdown runs (it re-raises SIGTERM when done).
        assert proc.wait(15) in (0, -signal.SIGTERM)
        assert (tmp_path / "state.closed").read_text() == "closed"
        assert state.read_text() == "up"
