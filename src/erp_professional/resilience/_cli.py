"""``erp-pro breakers``: list circuit breakers and their state.

    erp-pro breakers --app myservice.payments          # breakers a module defines
    erp-pro breakers --store redis://127.0.0.1:6379/0  # shared states kept in Redis
    erp-pro breakers --json

Without ``--store`` the configured ``resilience.breaker_store_url`` is read, if set.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from ._registry import breakers
from ._settings import settings
from ._shared import READ

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``breakers`` command to the ``erp-pro`` parser."""
    parser = subparsers.add_parser(
        "breakers",
        help="list circuit breakers and their state",
        description="List the breakers registered by --app modules and the shared states "
        "kept in the Redis store.",
    )
    parser.add_argument(
        "--app", action="append", default=[], metavar="MODULE", help="import MODULE first"
    )
    parser.add_argument("--store", help="Redis URL of the shared breaker state")
    parser.add_argument(
        "--namespace", help="key namespace in the store (default: the configured one)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_run)


def _local_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for breaker in breakers():
        snap = breaker.snapshot()
        rows.append(
            {
                "name": breaker.name,
                "source": "process",
                "state": breaker.state.value,
                "remaining": round(breaker.remaining, 3),
                "calls": snap.calls,
                "failure_rate": round(snap.failure_rate, 1),
                "slow_rate": round(snap.slow_rate, 1),
            }
        )
    return rows


def _store_rows(url: str, namespace: str) -> list[dict[str, object]]:
    from erp_professional.connections import redis_client

    client = redis_client(url)
    read = client.register_script(READ)
    prefix = f"{namespace}:breaker:"
    rows: list[dict[str, object]] = []
    for key in sorted(client.scan_iter(match=prefix + "*")):
        name = key.decode() if isinstance(key, bytes) else str(key)
        state, remaining_ms, attempt, _ = read(keys=[name])
        rows.append(
            {
                "name": name[len(prefix) :],
                "source": "store",
                "state": state.decode() if isinstance(state, bytes) else state,
                "remaining": int(remaining_ms) / 1000.0,
                "openings": int(attempt),
            }
        )
    return rows


def _run(args: argparse.Namespace) -> int:
    for module in args.app:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            print(f"cannot import {module!r}: {exc}", file=sys.stderr)
            return 2
    rows = _local_rows()
    config = settings()
    url = args.store or config.breaker_store_url
    if url:
        try:
            rows += _store_rows(url, args.namespace or config.breaker_namespace)
        except Exception as exc:  # report any store failure as a clear exit status
            print(f"cannot read the breaker store {url}: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no circuit breakers")
        return 0
    for row in rows:
        extra = f" {row['failure_rate']}% failed of {row['calls']}" if "calls" in row else ""
        remaining = f" (trial in {row['remaining']}s)" if row["state"] == "open" else ""
        print(f"{row['name']} [{row['source']}]: {row['state']}{remaining}{extra}")
    return 0
