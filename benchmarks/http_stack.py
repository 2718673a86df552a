"""What the request lifecycle costs: ours against the stack users assemble today.

Two parts, each comparing the same Starlette app in four configurations (see _apps.py):
bare, ours with only the foundation (request id + error boundary), ours with the
default configuration, and the anchor stack (OpenTelemetry ASGI + Sentry ASGI +
prometheus_client histogram + secure headers + slowapi).

1. In-process: requests are driven straight through the ASGI app (no server, no
   network); the figure is the time each stack adds per request over the bare app.
2. Server: each configuration under uvicorn on 127.0.0.1, loaded by ``wrk``; the
   figures are requests/s and p99 latency.

Run: ``.venv/bin/python benchmarks/http_stack.py [--quick] [--no-server] [--repeats N]``.
"""

# ruff: noqa: E402 - the standard imports follow the sys.path fix below on purpose
from __future__ import annotations

import sys
from pathlib import Path

# Scripts in benchmarks/ are named after capabilities (queue.py, ...): with their folder
# first on sys.path they would shadow standard modules of the same name, so the helpers
# are imported from the repository root as ``benchmarks._common`` / ``benchmarks._apps``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any

from benchmarks._apps import CONFIGS, ENV_VAR, Built, breakdown_variants, build, build_ours
from benchmarks._common import (
    UvicornServer,
    WrkResult,
    asgi_lifespan,
    asgi_request,
    drive_asgi,
    emit,
    figure,
    http_scope,
    median,
    paired_median_delta,
    run_wrk,
)

PATH = "/items/42"
CLIENT_HEADERS = (("user-agent", "bench/1.0"), ("accept", "application/json"))
FOUNDATION_TARGET_US = 5.0
ANCHOR = "anchor-stack"


def info(text: str) -> None:
    print(f"# {text}", flush=True)


class SanityError(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SanityError(message)


# -- sanity ---------------------------------------------------------------------------------
async def sanity_in_process(built: Mapping[str, Built]) -> None:
    """Each configuration answers, ours echoes request ids, the anchor stack really records."""
    item = http_scope(PATH, headers=CLIENT_HEADERS)
    with_id = http_scope(PATH, headers=(*CLIENT_HEADERS, ("x-request-id", "bench-id-1")))
    boom = http_scope("/boom", headers=CLIENT_HEADERS)
    for name, b in built.items():
        result = await asgi_request(b.app, item)
        check(result.status == 200, f"{name}: GET {PATH} answered {result.status}")
        check(json.loads(result.body)["id"] == 42, f"{name}: unexpected body {result.body!r}")
        failed = await asgi_request(b.app, boom)
        check(failed.status == 500, f"{name}: GET /boom answered {failed.status}")
        if name in ("foundation", "full"):
            rid = result.header("x-request-id") or ""
            check(len(rid) == 32, f"{name}: no generated X-Request-ID ({rid!r})")
            echoed = await asgi_request(b.app, with_id)
            check(
                echoed.header("x-request-id") == "bench-id-1",
                f"{name}: incoming X-Request-ID not echoed",
            )
            ctype = failed.header("content-type") or ""
            check(ctype.startswith("application/problem+json"), f"{name}: /boom gave {ctype!r}")
            check(failed.error is None, f"{name}: /boom escaped the error boundary")
        if name == "anchor":
            check(result.header("x-frame-options") is not None, "anchor: no secure headers")
    info("sanity: every configuration answers 200; ours echoes X-Request-ID and answers")
    info("        problem+json on errors; the anchor stack sets secure headers")


def check_anchor_probes(b: Built) -> None:
    spans = int(b.probes["spans"]())
    samples = b.probes["histogram_samples"]()
    envelopes = int(b.probes["sentry_envelopes"]())
    check(spans > 0, "anchor: no span was exported")
    check(samples > 0, "anchor: the request histogram has no sample")
    check(envelopes > 0, "anchor: Sentry captured nothing for /boom")
    info(
        f"anchor stack recorded: {spans} spans exported, {samples:.0f} histogram samples, "
        f"{envelopes} Sentry envelopes (the /boom checks)"
    )


# -- part 1: in-process ---------------------------------------------------------------------
def quiet(logger_name: str) -> contextlib.AbstractContextManager[None]:
    """Silence a logger for the error-path checks (the boundary logs each /boom)."""

    @contextlib.contextmanager
    def manager() -> Iterator[None]:
        logger = logging.getLogger(logger_name)
        level = logger.level
        logger.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            logger.setLevel(level)

    return manager()


async def measure(
    built: Mapping[str, Built], requests: int, repeats: int, chunks: int, budget: float
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """µs/request per configuration, one value per repeat (take medians), and the counts.

    Each configuration runs ``requests`` per repeat, fewer for an expensive one: a short
    calibration caps its repeat at about ``budget`` seconds (per-request figures of a slow
    stack need fewer requests to be as exact), so a loaded machine cannot stretch the run.
    Each repeat interleaves ``chunks`` slices of every configuration, rotating the order,
    so that a burst of load falls on all of them alike. Every timed request must answer
    200. The apps' lifespans must be running.
    """
    names = list(built)
    template = http_scope(PATH, headers=CLIENT_HEADERS)
    counts = {}
    for name in names:  # warm caches and lazy set-up, then calibrate
        app = built[name].app
        await drive_asgi(app, template, 100)
        seconds, _ = await drive_asgi(app, template, 200)
        fit = int(budget / (seconds / 200))
        counts[name] = max(chunks * 20, min(requests, fit)) // chunks * chunks
    per_request: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        elapsed = dict.fromkeys(names, 0.0)
        for chunk in range(chunks):
            shift = (round_ + chunk) % len(names)
            for name in names[shift:] + names[:shift]:
                n = counts[name] // chunks
                seconds, statuses = await drive_asgi(built[name].app, template, n)
                check(statuses == {200: n}, f"{name}: statuses {dict(statuses)} in a timed run")
                elapsed[name] += seconds
        for name in names:
            per_request[name].append(elapsed[name] / counts[name] * 1e6)
    return per_request, counts


async def in_process(
    requests: int, repeats: int, chunks: int, budget: float
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """The four configurations: sanity checks, then :func:`measure`."""
    built = {name: build(name) for name in CONFIGS}
    for b in built.values():
        for note in b.notes:
            info(f"{b.name}: {note}")
    async with contextlib.AsyncExitStack() as stack:
        for b in built.values():
            await stack.enter_async_context(asgi_lifespan(b.app))
        with quiet("erp_professional"):
            await sanity_in_process(built)
        result = await measure(built, requests, repeats, chunks, budget)
        check_anchor_probes(built["anchor"])
    return result


async def measure_variant(
    name: str, requests: int, repeats: int, chunks: int, budget: float
) -> str:
    """Time one breakdown variant against bare and the foundation; a JSON result line.

    ``name == "foundation"`` times the foundation alone against bare.
    """
    built = {"bare": build("bare"), "foundation": build("foundation")}
    if name != "foundation":
        built[name] = build_ours(name, breakdown_variants()[name])
    async with contextlib.AsyncExitStack() as stack:
        for b in built.values():
            await stack.enter_async_context(asgi_lifespan(b.app))
        per_request, counts = await measure(built, requests, repeats, chunks, budget)
    bare = per_request["bare"]
    return json.dumps(
        {
            "name": name,
            "added": paired_median_delta(per_request[name], bare),
            "foundation": paired_median_delta(per_request["foundation"], bare),
            "requests": counts[name],
            "concerns": built[name].notes[-1],
        }
    )


def run_variant(name: str, requests: int, repeats: int, chunks: int, budget: float) -> Any:
    """Run :func:`measure_variant` for ``name`` in a fresh process; its JSON result."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--variant",
            name,
            "--requests",
            str(requests),
            "--repeats",
            str(repeats),
            "--chunks",
            str(chunks),
            "--budget",
            str(budget),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SanityError(f"variant {name} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def foundation_alone(
    requests: int, repeats: int, chunks: int, budget: float, anchor_added: float
) -> float:
    """The foundation's added µs/request measured in a process of its own, against bare.

    In the four-configuration run the full stacks' background threads (span export, metric
    files, storage sweeps) run during the foundation's slices and are billed to its process
    CPU time; alone, the foundation pays only for itself.
    """
    result = run_variant("foundation", requests, repeats, chunks, budget)
    added: float = result["foundation"]
    emit(
        figure(
            "asgi added per request (foundation, own process)", added, anchor_added, ANCHOR, "us"
        )
    )
    met = "met" if added <= FOUNDATION_TARGET_US else "NOT met"
    info(
        f"foundation target: {added:.2f} us/request added in its own process "
        f"(target <= {FOUNDATION_TARGET_US:g} us): {met}"
    )
    return added


def breakdown(requests: int, repeats: int, chunks: int, budget: float) -> None:
    """What each capability (and sub-switch) adds on its own, each in a fresh process.

    A fresh process per variant keeps process-wide set-up (logging sinks, tracer and
    meter providers) of one variant out of the others.
    """
    info("breakdown: each variant = foundation + one section, in its own process, paired")
    info(f"with bare; {repeats} repeats each, medians of the added us/request")
    for name in breakdown_variants():
        result = run_variant(name, requests, repeats, chunks, budget)
        info(
            f"  {name:<30} {result['added']:8.2f} us/request "
            f"(foundation alone {result['foundation']:.2f}; {result['requests']} requests)  "
            f"{result['concerns']}"
        )


def report_in_process(
    per_request: dict[str, list[float]], counts: dict[str, int], repeats: int
) -> dict[str, float]:
    """Print the in-process figures; the µs/request each configuration adds over bare."""
    bare = per_request["bare"]
    info(f"in-process: GET {PATH}, process CPU time, {repeats} interleaved repeats, medians")
    for name in CONFIGS:
        info(
            f"  {name:<10} {median(per_request[name]):8.2f} us/request "
            f"({counts[name]} requests per repeat)"
        )
    added = {name: paired_median_delta(per_request[name], bare) for name in CONFIGS[1:]}
    emit(
        figure(
            "asgi added per request (foundation)",
            added["foundation"],
            added["anchor"],
            ANCHOR,
            "us",
        )
    )
    emit(figure("asgi added per request (full)", added["full"], added["anchor"], ANCHOR, "us"))
    emit(
        figure(
            "asgi time per request (full)",
            median(per_request["full"]),
            median(per_request["anchor"]),
            ANCHOR,
            "us",
        )
    )
    return added


# -- part 2: server -------------------------------------------------------------------------
def server_runs(
    duration: float, repeats: int, threads: int, connections: int
) -> dict[str, list[WrkResult]]:
    results: dict[str, list[WrkResult]] = {name: [] for name in CONFIGS}
    with contextlib.ExitStack() as stack:
        servers = {}
        for name in CONFIGS:
            server = UvicornServer(
                "benchmarks._apps:app_from_env",
                app_dir=_HERE.parent,
                env={ENV_VAR: name},
                factory=True,
                ready_path=PATH,
            )
            stack.enter_context(server)
            servers[name] = server
        for name, server in servers.items():
            status, headers, _ = server.get(PATH)
            check(status == 200, f"server {name}: GET {PATH} answered {status}")
            if name in ("foundation", "full"):
                check("x-request-id" in headers, f"server {name}: no X-Request-ID")
            if name == "anchor":
                check("x-frame-options" in headers, "server anchor: no secure headers")
        info(
            f"server: uvicorn (1 worker, h11, asyncio) on 127.0.0.1; "
            f"wrk -t{threads} -c{connections} -d{duration:g}s --latency, {repeats} repeats"
        )
        for server in servers.values():  # warm up
            run_wrk(server.url + PATH, 1.0, threads, connections)
        for round_ in range(repeats):
            order = CONFIGS[round_ % len(CONFIGS) :] + CONFIGS[: round_ % len(CONFIGS)]
            for name in order:
                result = run_wrk(servers[name].url + PATH, duration, threads, connections)
                check(
                    result.non_2xx == 0 and result.socket_errors == 0,
                    f"server {name}: {result.non_2xx} non-2xx responses, "
                    f"{result.socket_errors} socket errors\n{result.text}",
                )
                results[name].append(result)
    return results


def report_server(results: dict[str, list[WrkResult]]) -> None:
    rps = {n: median(r.requests_per_s for r in results[n]) for n in CONFIGS}
    p99 = {n: median(r.latency_ms[99] for r in results[n]) for n in CONFIGS}
    p50 = {n: median(r.latency_ms[50] for r in results[n]) for n in CONFIGS}
    for name in CONFIGS:
        info(
            f"  {name:<10} {rps[name]:8.0f} req/s  p50={p50[name]:.2f}ms  "
            f"p99={p99[name]:.2f}ms  req/s vs bare={rps[name] / rps['bare']:.3f}  "
            f"p99 vs bare={p99[name] / p99['bare']:.2f}"
        )
    for name in ("foundation", "full"):
        emit(
            figure(
                f"server requests/s ({name} vs bare)",
                rps[name],
                rps["bare"],
                "bare",
                "rps",
                ratio="ours/peer",
            )
        )
    emit(figure("server requests/s (full)", rps["full"], rps["anchor"], ANCHOR, "rps", "ours/peer"))
    for name in ("foundation", "full"):
        emit(
            figure(
                f"server p99 latency ({name} vs bare)",
                p99[name],
                p99["bare"],
                "bare",
                "ms",
                ratio="ours/peer",
            )
        )
    emit(figure("server p99 latency (full)", p99["full"], p99["anchor"], ANCHOR, "ms"))
    info(
        f"anchor stack vs bare: req/s ratio={rps['anchor'] / rps['bare']:.3f}, "
        f"p99 ratio={p99['anchor'] / p99['bare']:.2f}"
    )


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="few requests/repeats (smoke run)")
    parser.add_argument("--no-server", action="store_true", help="skip the uvicorn + wrk part")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time what each capability of ours adds on its own (in-process)",
    )
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one breakdown process
    parser.add_argument("--repeats", type=int, help="in-process repeats (default 7, quick 3)")
    parser.add_argument(
        "--requests", type=int, help="most requests per in-process repeat (default 20000)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="about this many seconds per configuration per repeat (default 0.5, quick 0.1)",
    )
    parser.add_argument(
        "--chunks", type=int, default=10, help="interleaved slices per in-process repeat"
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 5)")
    parser.add_argument("--server-repeats", type=int, help="wrk runs per configuration")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    args = parser.parse_args(argv)
    quick = args.quick
    args.repeats = args.repeats or (3 if quick else 7)
    args.requests = args.requests or (2000 if quick else 20000)
    args.duration = args.duration or (2.0 if quick else 5.0)
    args.budget = args.budget or (0.1 if quick else 0.5)
    args.server_repeats = args.server_repeats or (1 if quick else 3)
    for name in ("repeats", "requests", "chunks", "server_repeats", "threads", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration <= 0 or args.budget <= 0:
        parser.error("--duration and --budget must be positive")
    return args


def _count_lines(handle: IO[str]) -> int:
    handle.seek(0)
    return sum(1 for _ in handle)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.variant:
        with tempfile.TemporaryFile("w+") as log, contextlib.redirect_stderr(log):
            line = asyncio.run(
                measure_variant(args.variant, args.requests, args.repeats, args.chunks, args.budget)
            )
        print(line, flush=True)
        return 0
    info(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    # Logs written during the in-process part (ours writes an access log line per request
    # to stderr by default) go to a file, as a service's logs would, not to the terminal.
    with tempfile.TemporaryFile("w+") as log, contextlib.redirect_stderr(log):
        per_request, counts = asyncio.run(
            in_process(args.requests, args.repeats, args.chunks, args.budget)
        )
        lines = log.tell() and _count_lines(log)
    info(f"in-process part wrote {lines} log lines to a file (stderr during the run)")
    added = report_in_process(per_request, counts, args.repeats)
    foundation_alone(args.requests, args.repeats, args.chunks, args.budget, added["anchor"])
    if args.breakdown:
        breakdown(args.requests, args.repeats, args.chunks, args.budget)
    if args.no_server:
        info("server part skipped (--no-server)")
    elif shutil.which("wrk") is None:
        info("server part skipped: wrk is not installed (apt-get install -y wrk)")
    else:
        report_server(
            server_runs(args.duration, args.server_repeats, args.threads, args.connections)
        )
    info(
        f"done in {time.perf_counter() - started:.0f}s, "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
