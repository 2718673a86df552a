"""Correct totals on /metrics when two worker processes serve the same app."""

from __future__ import annotations

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .test_metrics import value

pytestmark = pytest.mark.slow

APP = textwrap.dedent(
    """
    import os

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from erp_professional import integrate


    async def pid(request):
        return JSONResponse({"pid": os.getpid()})


    app = Starlette(routes=[Route("/pid/{n}", pid)])
    pro = integrate(
        app,
        observability__metrics__multiprocess_interval=0.2,
        observability__logging__access_log=False,
    )
    """
)

WSGI_APP = textwrap.dedent(
    """
    import os

    from flask import Flask

    from erp_professional import integrate

    app = Flask(__name__)


    @app.get("/pid/<int:n>")
    def pid(n):
        return {"pid": os.getpid()}


    pro = integrate(
        app,
        observability__metrics__multiprocess_interval=0.2,
        observability__logging__access_log=False,
    )
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def wait_until_up(process: subprocess.Popen[bytes], url: str, what: str) -> None:
    """Poll ``url`` until the server answers; fail with its stderr if it exits or takes
    longer than 60 s (it is killed first, so reading its stderr cannot block)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            get(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # TimeoutError: the socket is bound but no worker answered within 5 s yet (a
            # worker still importing on a busy machine).
            if process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
        process.kill()
        process.wait(timeout=10)
        assert process.stderr is not None
        pytest.fail(f"{what} did not start: {process.stderr.read().decode()[-2000:]}")


@pytest.fixture(params=["uvicorn", "gunicorn"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    kind = request.param
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    bindir = Path(sys.executable).parent
    if kind == "uvicorn":
        (tmp_path / "mp_app.py").write_text(APP)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "mp_app:app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    else:
        (tmp_path / "mp_app.py").write_text(WSGI_APP)
        command = [
            str(bindir / "gunicorn"),
            "mp_app:app",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Probe a URL outside the counted route: a probe that timed out may still be served.
        wait_until_up(process, base + "/_pro/metrics", kind)
        yield base, metrics_dir, "/pid/{n}" if kind == "uvicorn" else "/pid/<int:n>"
    finally:
        process.send_signal(signal.SIGINT if kind == "uvicorn" else signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


def test_two_workers_report_correct_totals(server: tuple[str, Path, str]) -> None:
    base, metrics_dir, route = server
    pids: set[int] = set()
    sent = 0
    # Concurrent bursts until both workers have answered (the second may still be booting).
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(pids) < 2 and time.monotonic() < deadline:
            urls = [f"{base}/pid/{n}" for n in range(sent, sent + 8)]
            for body in pool.map(get, urls):
                pids.add(json.loads(body)["pid"])
            sent += len(urls)
    assert len(pids) == 2, "the two workers never both answered"
    for _ in range(20):
        get(f"{base}/pid/{sent}")
        sent += 1

    deadline = time.monotonic() + 15
    total = -1.0
    while time.monotonic() < deadline:
        text = get(f"{base}/_pro/metrics").decode()
        total = value(text, "http_server_request_duration_seconds_count", http_route=route)
        if total == sent:
            break
        time.sleep(0.2)
    assert total == sent
    files = {p.name for p in metrics_dir.glob("erp-metrics-*.json")}
    assert {f"erp-metrics-{pid}.json" for pid in pids} <= files
    # Every worker's /metrics gives the same total (ask several times: both workers answer).
    for _ in range(6):
        text = get(f"{base}/_pro/metrics").decode()
        assert value(text, "http_server_request_duration_seconds_count", http_route=route) == sent


def test_uvicorn_logs_come_out_as_json(tmp_path: Path) -> None:
    (tmp_path / "log_app.py").write_text(
        textwrap.dedent(
            """
            import logging

            from starlette.applications import Starlette
            from starlette.responses import JSONResponse
            from starlette.routing import Route

            from erp_professional import integrate


            async def hello(request):
                logging.getLogger("app.orders").warning("order %s is late", 7)
                return JSONResponse({})


            app = Starlette(routes=[Route("/hello", hello)])
            pro = integrate(app, observability__logging__format="json")
            """
        )
    )
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "log_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(process, f"http://127.0.0.1:{port}/_pro/info", "uvicorn")  # not logged
        get(f"http://127.0.0.1:{port}/hello")
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    by_logger = {line["logger"]: line for line in lines}
    assert "uvicorn.error" in by_logger  # uvicorn's own lines, in our format
    assert not any("color_message" in line for line in lines)  # no ANSI-coloured copy
    order = next(line for line in lines if line["logger"] == "app.orders")
    assert order["message"] == "order 7 is late" and order["level"] == "WARNING"
    assert len(order["request_id"]) == 32 and len(order["trace_id"]) == 32
    access = [line for line in lines if line["logger"] == "erp_professional.access"]
    assert [line["route"] for line in access] == ["/hello"]
    assert access[0]["request_id"] == order["request_id"]


def test_gunicorn_logger_class_writes_json(tmp_path: Path) -> None:
    (tmp_path / "g_app.py").write_text(WSGI_APP)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "ERP_PRO_OBSERVABILITY__LOGGING__FORMAT": "json",
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "g_app:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--logger-class",
            "erp_professional.observability.gunicorn.Logger",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(process, f"http://127.0.0.1:{port}/_pro/info", "gunicorn")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    text = err.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    master = [line for line in lines if line["logger"] == "gunicorn.error"]
    assert any("Starting gunicorn" in line["message"] for line in master), text[-2000:]
    assert all(not line.startswith("[") for line in text.splitlines() if line.strip())
