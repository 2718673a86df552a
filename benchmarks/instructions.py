"""Instructions per request each concern adds, counted by valgrind: noise-free figures.

The time benchmarks (security.py, observability.py) are what the goals are stated in, but
on a shared machine their absolute figures drift by a factor of two between runs. The
number of instructions a request executes does not: counted by ``valgrind
--tool=callgrind`` it is the same on a quiet and on a busy machine, so it shows whether a
change made the request path cheaper. It is not a time: instructions per nanosecond vary
with the code's cache behaviour, and system calls (writing a log line) are not counted.

Each variant runs in its own process under callgrind with counting switched off; after
the app is built and warmed up, counting is switched on for N requests and off again
(``callgrind_control``), and the same is done with 0 requests, so start-up and the
switching cancel out. Figures are instructions per request added over the baseline named.

    .venv/bin/python benchmarks/instructions.py            # every variant, 1000 requests
    .venv/bin/python benchmarks/instructions.py security   # or: observability
    .venv/bin/python benchmarks/instructions.py --requests 2000

Needs valgrind (Debian package ``valgrind``). Takes about half a minute per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

HEADERS = (
    ("user-agent", "bench/1.0"),
    ("accept", "application/json"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
)

# name -> (group, baseline name or "", description)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "security.driver": ("security", "", "lifecycle driver, no concern (GET)"),
    "security.driver-post": ("security", "", "lifecycle driver, no concern (same-origin POST)"),
    "security.headers": ("security", "security.driver", "security headers, helmet preset"),
    "security.csrf": ("security", "security.driver-post", "CSRF check, same-origin POST"),
    "security.rate-limit": ("security", "security.driver", "rate limit, memory, fixed window"),
    "observability.bare": ("observability", "", "the Starlette app alone"),
    "observability.foundation": (
        "observability",
        "observability.bare",
        "integrate() with every section off (request id, error boundary, driver)",
    ),
    "observability.ours": (
        "observability",
        "observability.foundation",
        "tracing + metrics + access log + Sentry reporting over the foundation",
    ),
}


def _security_app(name: str) -> tuple[Any, dict[str, Any]]:
    from erp_professional.security import (
        CsrfConcern,
        HeadersConcern,
        RateLimitConcern,
        SecurityHeaders,
    )
    from security import ours, scope

    post = scope("POST", [(b"origin", b"http://testserver")])
    get = scope("GET", [])
    concern: dict[str, Callable[[], Any]] = {
        "headers": lambda: HeadersConcern(SecurityHeaders("helmet")),
        "csrf": CsrfConcern,
        "rate-limit": lambda: RateLimitConcern(default="100000000/minute"),
    }
    kind = name.split(".", 1)[1]
    if kind in concern:
        return ours(concern[kind]()), post if kind == "csrf" else get
    return ours(), post if kind == "driver-post" else get


def _observability_app(name: str) -> Any:
    from _apps import foundation_overrides, starlette_app

    import observability as ob
    from erp_professional import integrate
    from erp_professional._sections.observability import LoggingConfig, TracingConfig
    from erp_professional.observability import setup_logging, setup_tracing

    ob.init_sentry()
    app = starlette_app()
    kind = name.split(".", 1)[1]
    if kind != "bare":
        overrides = {**foundation_overrides(), "observability__enabled": kind == "ours"}
        integrate(app, **overrides)
    setup_tracing(TracingConfig(), exporter=ob.Discard())
    setup_logging(LoggingConfig(format="json"), stream=open(os.devnull, "w"))  # noqa: SIM115
    return app


def _toggle(state: str) -> None:
    subprocess.run(
        ["callgrind_control", "--instr=" + state, str(os.getpid())],
        check=False,
        capture_output=True,
    )


def child(name: str, requests: int) -> None:
    """Run inside valgrind: build, warm up, then count ``requests`` requests."""
    from _common import asgi_lifespan, drive_asgi, http_scope

    async def main() -> None:
        if name.startswith("security."):
            from security import _receive, _send

            app, base = _security_app(name)

            async def run(n: int) -> None:
                for _ in range(n):
                    await app(dict(base), _receive, _send)

            await run(300)
            _toggle("on")
            await run(requests)
            _toggle("off")
            return
        app = _observability_app(name)
        template = http_scope("/items/42", headers=HEADERS)
        async with asgi_lifespan(app):
            await drive_asgi(app, template, 300)
            _toggle("on")
            await drive_asgi(app, template, requests)
            _toggle("off")

    asyncio.run(main())


def count(name: str, requests: int, workdir: Path) -> int:
    """Instructions valgrind counted while ``requests`` requests of ``name`` ran."""
    out = workdir / f"callgrind.{name}.{requests}"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--child",
        name,
        "--requests",
        str(requests),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"{name}: valgrind failed:\n{done.stderr[-3000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("group", nargs="?", choices=["security", "observability"])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.requests)
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    names = [n for n, (group, _, _) in VARIANTS.items() if args.group in (None, group)]
    per_request: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            counted = count(name, args.requests, Path(tmp)) - count(name, 0, Path(tmp))
            per_request[name] = counted / args.requests
            print(f"# {name}: {per_request[name]:,.0f} instructions/request", flush=True)
    for name in names:
        _, baseline, text = VARIANTS[name]
        if baseline:
            added = per_request[name] - per_request[baseline]
            print(f"{name} ({text}): adds {added:,.0f} instructions/request", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
