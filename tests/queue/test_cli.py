"""The ``worker`` and ``queue`` commands, through an argparse parser like erp-pro's."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from erp_professional.config import QueueConfig
from erp_professional.queue import JobStatus, Queue, Worker
from erp_professional.queue._cli import load_target, register

HERE = Path(__file__).resolve().parent
MAIN = (
    "import argparse, sys\n"
    "from erp_professional.queue._cli import register\n"
    "p = argparse.ArgumentParser(); register(p.add_subparsers(dest='c', required=True))\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="erp-pro")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


async def _drain(q: Queue, failed: int) -> None:
    async with Worker(q):
        while q.stats().failed < failed:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
def dead_letters(redis_url: str) -> Queue:
    q = Queue(redis_url, "cli", config=QueueConfig(retries=0))

    @q.task(name="explode")
    def explode(n: int) -> None:
        raise RuntimeError(f"bad input {n}")

    for n in range(3):
        explode.enqueue(n=n)
    asyncio.run(_drain(q, 3))
    return q


def test_dead_retry_and_purge_commands(
    dead_letters: Queue, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["queue", "--url", redis_url, "--name", "cli"]
    code, out, _ = run([*where, "dead", "-v"], capsys)
    assert code == 0
    assert "3 dead letter(s)" in out and "RuntimeError: bad input 2" in out
    assert "Traceback" in out
    code, out, _ = run([*where, "dead", "--json"], capsys)
    rows = json.loads(out)
    assert {r["kwargs"]["n"] for r in rows} == {0, 1, 2}
    first = rows[0]["id"]
    code, out, _ = run([*where, "retry", first], capsys)
    assert (code, out.strip()) == (0, "1 job(s) moved back to waiting")
    assert dead_letters.get_job(first).status is JobStatus.WAITING
    code, _, err = run([*where, "purge"], capsys)
    assert code == 2 and "--all" in err
    code, out, _ = run([*where, "purge", "--all"], capsys)
    assert out.strip() == "2 dead letter(s) deleted"
    assert dead_letters.stats().failed == 0


def test_schedules_command_describes_each_schedule(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    monkeypatch.setenv("QUEUE_CLI_URL", redis_url)
    monkeypatch.delitem(sys.modules, "cli_app", raising=False)
    q = Queue(redis_url, "cli")
    q.schedule("0 8 * * MON", "report.weekly", {"team": "ops"}, tz="Europe/Berlin", id="weekly")
    code, out, _ = run(["queue", "--app", "cli_app:queue", "schedules"], capsys)
    assert code == 0
    assert "weekly" in out and "At 08:00 on Monday (Europe/Berlin)" in out
    assert "1 schedule(s)" in out


def test_bad_target_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="module:attribute"):
        load_target("no_colon")
    code, _, err = run(["worker", "json:dumps"], capsys)
    assert code == 2 and "not a Queue" in err


def test_worker_command_runs_jobs_and_stops_on_sigterm(redis_url: str) -> None:
    q = Queue(redis_url, "cli")
    job = q.enqueue("report.weekly", {"team": "sales"})
    env = {**os.environ, "QUEUE_CLI_URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN, "worker", "cli_app:queue", "--concurrency", "2"],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while job.refresh().status is not JobStatus.COMPLETED:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert job.result == "sales"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    text = output.decode()
    assert "concurrency 2" in text and "stopped" in text
