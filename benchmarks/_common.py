"""Shared helpers for the benchmark scripts in this folder.

Import it from a script in ``benchmarks/`` as ``benchmarks._common``, with the repository
root (not ``benchmarks/``) on ``sys.path``: scripts are named after capabilities
(``queue.py``, ...) and would shadow standard modules if their folder came first::

    import sys
    from pathlib import Path

    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

    from benchmarks._common import drive_asgi, emit, figure, http_scope, median

The API, kept small on purpose:

* timing: :func:`median_time` (median seconds of a callable over repeats) and
  :func:`median` / :func:`paired_median_delta` for figures computed from repeat lists;
* output: :func:`figure` formats one line
  ``<figure>: ours=<v><unit> peer(<name>)=<v><unit> ratio=<stated>=<v>`` and :func:`emit`
  prints it (flushed);
* in-process ASGI: :func:`http_scope` builds a request scope template,
  :func:`drive_asgi` sends N requests through an app with a prepared receive/send loop
  (no server, no network) and returns elapsed seconds and the status counts,
  :func:`asgi_request` sends one request and returns status, headers and body (for
  sanity checks), :func:`asgi_lifespan` runs an app's lifespan start-up and shutdown;
* servers: :func:`free_port`, :func:`repo_root`, :class:`UvicornServer` (a uvicorn
  subprocess on 127.0.0.1 that is killed on exit, even on errors) and :func:`run_wrk`
  (bounded ``wrk`` load, parsed into requests/s and latency percentiles).

Everything talks only to 127.0.0.1 and is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AsgiResult",
    "UvicornServer",
    "WrkResult",
    "asgi_lifespan",
    "asgi_request",
    "drive_asgi",
    "emit",
    "figure",
    "free_port",
    "http_scope",
    "median",
    "median_time",
    "paired_median_delta",
    "repo_root",
    "run_wrk",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

HOST = "127.0.0.1"


# -- timing ---------------------------------------------------------------------------------
def median(values: Iterable[float]) -> float:
    """The median of ``values`` (at least one)."""
    return statistics.median(list(values))


def median_time(
    fn: Callable[[], object],
    repeats: int = 7,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median seconds of ``fn()`` by ``clock`` over ``repeats`` runs after ``warmup`` runs.

    A full garbage collection runs before each timed call so that one run does not pay
    for the garbage of the previous one. ``clock=time.process_time`` measures CPU time
    of the whole process instead of wall-clock time (see :func:`drive_asgi`).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = clock()
        fn()
        times.append(clock() - start)
    return median(times)


def paired_median_delta(values: Iterable[float], baseline: Iterable[float]) -> float:
    """Median of ``value - baseline`` taken repeat by repeat (both measured in the same round).

    Pairing cancels slow drift of a noisy machine better than subtracting two medians.
    """
    pairs = list(zip(values, baseline, strict=True))
    return median(v - b for v, b in pairs)


# -- output ---------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def figure(
    name: str,
    ours: float,
    peer: float,
    peer_name: str,
    unit: str,
    ratio: str = "peer/ours",
) -> str:
    """One result line: ``<name>: ours=<v><unit> peer(<peer_name>)=<v><unit> ratio=<r>=<v>``.

    ``ratio`` is ``"peer/ours"`` (higher is better for us when the figure is a cost) or
    ``"ours/peer"`` (use it for throughput); the line states which one it is.
    """
    if ratio not in ("peer/ours", "ours/peer"):
        raise ValueError(f"ratio must be 'peer/ours' or 'ours/peer', not {ratio!r}")
    num, den = (peer, ours) if ratio == "peer/ours" else (ours, peer)
    value = f"{num / den:.2f}" if den != 0 else "inf"
    return (
        f"{name}: ours={_fmt(ours)}{unit} peer({peer_name})={_fmt(peer)}{unit} "
        f"ratio={ratio}={value}"
    )


def emit(line: str) -> None:
    """Print one result line and flush (so a long run shows progress)."""
    print(line, flush=True)


# -- in-process ASGI ------------------------------------------------------------------------
def http_scope(
    path: str = "/",
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    query_string: str = "",
) -> dict[str, Any]:
    """An ASGI ``http`` scope template as uvicorn builds it (copy it for every request)."""
    raw_headers = [(b"host", f"{HOST}:8000".encode())] + [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": (HOST, 8000),
        "client": (HOST, 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": query_string.encode("latin-1"),
        "headers": raw_headers,
    }


@dataclass
class AsgiResult:
    """One response collected by :func:`asgi_request`."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    error: BaseException | None = None

    def header(self, name: str) -> str | None:
        key = name.lower()
        return next((v for k, v in self.headers if k == key), None)


def _new_scope(template: Mapping[str, Any]) -> dict[str, Any]:
    scope = dict(template)
    scope["state"] = {}  # uvicorn hands every request a copy of the lifespan state
    return scope


async def drive_asgi(
    app: ASGIApp,
    template: Mapping[str, Any],
    n: int,
    body: bytes = b"",
    clock: Callable[[], float] = time.process_time,
) -> tuple[float, Counter[int]]:
    """Send ``n`` requests built from ``template`` through ``app``, one after the other.

    Returns the seconds spent, by ``clock``, and a counter of response statuses (check
    it: a benchmark of error responses measures the wrong thing). Exceptions escaping the
    app are counted as status 0. A full garbage collection runs before the clock starts.

    The default clock is the process's CPU time: it counts the work of every thread of
    the process (a background span exporter or log writer included) but not the time
    spent waiting while other processes hold the CPU, so a busy machine does not inflate
    it. Pass ``time.perf_counter`` for wall-clock time.
    """
    statuses: Counter[int] = Counter()
    request = {"type": "http.request", "body": body, "more_body": False}
    disconnect = {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    gc.collect()
    start = clock()
    for _ in range(n):
        pending = [request]

        async def receive() -> Message:
            return pending.pop() if pending else disconnect

        try:
            await app(_new_scope(template), receive, send)
        except Exception:
            statuses[0] += 1
    elapsed = clock() - start
    return elapsed, statuses


async def asgi_request(app: ASGIApp, template: Mapping[str, Any], body: bytes = b"") -> AsgiResult:
    """Send one request through ``app`` and collect the response (for sanity checks)."""
    result = AsgiResult(status=0, headers=[], body=b"")
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = [
                (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
                for k, v in message.get("headers", ())
            ]
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    try:
        await app(_new_scope(template), receive, send)
    except Exception as exc:  # the app's server would log it and close the connection
        result.error = exc
    return result


@contextlib.asynccontextmanager
async def asgi_lifespan(app: ASGIApp, wait_s: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s lifespan start-up, yield the lifespan state, then run its shutdown.

    Raises :class:`RuntimeError` if start-up fails; each step waits at most ``wait_s``.
    Apps that do not speak the lifespan protocol are served without it, as uvicorn does.
    """
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.4"}, "state": state}

    async def run() -> None:
        with contextlib.suppress(Exception):
            await app(scope, to_app.get, from_app.put)
        await from_app.put({"type": "lifespan.unsupported"})

    task = asyncio.create_task(run())
    await to_app.put({"type": "lifespan.startup"})
    message = await asyncio.wait_for(from_app.get(), wait_s)
    if message["type"] == "lifespan.startup.failed":
        raise RuntimeError(f"lifespan start-up failed: {message.get('message', '')}")
    supported = message["type"] == "lifespan.startup.complete"
    try:
        yield state
    finally:
        if supported:
            await to_app.put({"type": "lifespan.shutdown"})
            await asyncio.wait_for(from_app.get(), wait_s)
        await asyncio.wait_for(task, wait_s)


# -- servers --------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class UvicornServer:
    """A uvicorn subprocess serving ``app`` (``"module:attr"``) on 127.0.0.1, one worker.

    It runs in ``app_dir``, which uvicorn also puts first on ``sys.path``. Use it as a
    context manager: start-up waits until ``GET ready_path`` answers (any status) and
    fails with the server's output if it does not within ``timeout``; the server is
    stopped on exit (SIGINT, then SIGKILL after 10 s), errors included. ``factory=True``
    calls ``attr()`` to build the app; ``env`` adds environment variables.
    """

    app: str
    app_dir: str | os.PathLike[str] = "."
    env: Mapping[str, str] = field(default_factory=dict)
    factory: bool = False
    ready_path: str = "/"
    timeout: float = 30.0
    extra_args: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> UvicornServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.port = self.port or free_port()
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--app-dir",
            str(self.app_dir),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
            *(["--factory"] if self.factory else []),
            *self.extra_args,
        ]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            args,
            cwd=str(self.app_dir),  # ``-m`` puts the working directory first on sys.path
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn {self.app} exited early:\n{self.output()}")
            try:
                self.get(self.ready_path, timeout=1.0)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"uvicorn {self.app} did not answer within {self.timeout}s:\n"
                        f"{self.output()}"
                    ) from None
                time.sleep(0.05)

    def get(
        self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0
    ) -> tuple[int, dict[str, str], bytes]:
        """One ``GET`` to the server: ``(status, lower-cased headers, body)``."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=dict(headers or {}))
            response = conn.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()

    def output(self) -> str:
        """What the server printed so far."""
        if self._log is None:
            return ""
        self._log.seek(0)
        text: str = self._log.read().decode("utf-8", "replace")
        return text

    def stop(self) -> None:
        """Stop the server (SIGINT, SIGKILL after 10 s) and drop its output."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        log, self._log = self._log, None
        if log is not None:
            log.close()


@dataclass
class WrkResult:
    """Parsed ``wrk --latency`` output."""

    requests_per_s: float
    latency_ms: dict[int, float]  # percentile (50, 75, 90, 99) -> milliseconds
    requests: int
    non_2xx: int
    socket_errors: int
    text: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    url: str,
    duration: float = 5.0,
    threads: int = 2,
    connections: int = 32,
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    """Load ``url`` (on 127.0.0.1) with ``wrk --latency`` for ``duration`` seconds."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"benchmarks only load 127.0.0.1, not {url!r}")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)")
    args = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=duration + 30, check=True
    )
    text = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}\n{done.stderr}")
    latency = {
        int(p): _ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s|m))\s*$", text, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        latency_ms=latency,
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
        text=text,
    )


def repo_root() -> Path:
    """The repository root (the folder holding ``benchmarks/``)."""
    return Path(__file__).resolve().parent.parent
