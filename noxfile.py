"""Development sessions: tests, lint, typecheck, demo, bench, docs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = False

PYTHON = "3.11"
ROOT = Path(__file__).parent
TEST_DEPS = [
    "pytest>=8",
    "hypothesis>=6.100",
    "httpx>=0.27",
    "httpx2",
    "uvicorn>=0.29",
    "waitress>=3.0",
    "gunicorn>=22",
    "UnleashClient>=6.0",
]
BENCH_PEERS = [
    "fastapi-health",
    "opentelemetry-instrumentation-asgi",
    "secure",
    "slowapi",
    "starlette-csrf",
    "pybreaker",
    "tenacity",
    "growthbook",
    "eventsourcing[postgres]",
    "arq",
    "saq",
    "rq",
    "dramatiq[redis]",
]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install the package with every extra and run the whole test suite."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install(
        "-e", ".[all]", "mypy>=1.10", "types-PyYAML", "httpx", "requests", "types-requests"
    )
    session.run("mypy", "--strict", "src/erp_professional")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the demo ERP service on 127.0.0.1:8000 with embedded defaults."""
    session.install("-e", ".[demo]")
    session.run("erp-pro", "demo", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run every benchmark script (ours and the named peers in the same run)."""
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
    session.install("-e", ".[all]", *TEST_DEPS, *BENCH_PEERS)
    scripts = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
    for script in scripts:
        session.run("python", str(script), *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Check that every page linked from docs/index.md exists and code blocks parse."""
    session.run("python", "docs/check.py")
