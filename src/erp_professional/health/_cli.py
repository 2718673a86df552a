"""``erp-pro health``: run the health checks here or ask a running service; exit 1 on fail.

Made for container ``HEALTHCHECK`` lines and humans::

    erp-pro health                                # the configured checks, in this process
    erp-pro health --app myservice.main:app       # the checks an app registers
    erp-pro health --url http://127.0.0.1:8000    # a running service's /_pro/readyz
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from ._check import Kind
from ._format import health_json, probe_text
from ._registry import HealthRegistry

if TYPE_CHECKING:
    from ..config import ProfessionalConfig

__all__ = ["main", "register"]

_ENDPOINT = {"liveness": "livez", "readiness": "readyz", "startup": "startupz", "all": "health"}
_PROBES = ("livez", "readyz", "startupz", "health")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``health`` command to the ``erp-pro`` parser."""
    parser = subparsers.add_parser(
        "health",
        help="run the health checks (exit 1 on fail)",
        description="Run the health checks in this process (--app, or the configured "
        "checks) or ask a running service (--url); exit 0 on pass/warn, 1 on fail.",
    )
    parser.add_argument(
        "--kind",
        choices=sorted(_ENDPOINT),
        default="readiness",
        help="which probe to run (default readiness; 'all' runs every check)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--url",
        help="a running service: its base URL (the probe under --prefix is added) "
        "or the probe's full URL",
    )
    where.add_argument(
        "--app", metavar="MODULE:ATTR", help="import an app, Professional or HealthRegistry"
    )
    parser.add_argument("--prefix", default=None, help="toolkit prefix for --url (default /_pro)")
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="NAME", help="leave a check out"
    )
    parser.add_argument(
        "--token", default=None, help="details token for --url (default: the configured one)"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for --url (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print IETF health+json")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``health`` command: 0 on pass or warn, 1 on fail or when unreachable."""
    try:
        if args.url:
            return _remote(args)
        return _local(args)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"erp-pro health: {exc}", file=sys.stderr)
        return 2


def _config(args: argparse.Namespace) -> ProfessionalConfig:
    from ..config import load_config

    return load_config(getattr(args, "config", None))


def _local(args: argparse.Namespace) -> int:
    if args.app:
        registry = _registry_from_app(args.app)
    else:
        from ._install import build_registry

        config = _config(args)
        registry = build_registry(config.health, breakers=config.resilience.enabled)
    kind: Kind | None = None if args.kind == "all" else args.kind
    report = registry.run(kind, args.exclude)
    if not args.quiet:
        if args.json:
            print(json.dumps(health_json(report, details=True), indent=2))
        else:
            print(probe_text(report, verbose=True, details=True), end="")
    return 0 if report.ok else 1


def _registry_from_app(spec: str) -> HealthRegistry:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--app needs MODULE:ATTR, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    target: object = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if isinstance(target, HealthRegistry):
        return target
    pro = target if hasattr(target, "components") else getattr(target, "__erp_professional__", None)
    components = getattr(pro, "components", None)
    if isinstance(components, dict) and isinstance(components.get("health"), HealthRegistry):
        registry: HealthRegistry = components["health"]
        return registry
    raise TypeError(
        f"{spec} is not a HealthRegistry, a Professional with health on, or an app given to "
        "integrate()"
    )


def _probe_url(args: argparse.Namespace) -> str:
    url: str = args.url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url needs an http:// or https:// URL, got {url!r}")
    endpoint = _ENDPOINT[args.kind]
    if parts.path.rstrip("/").rsplit("/", 1)[-1] not in _PROBES:
        prefix = args.prefix
        if prefix is None:
            prefix = _config(args).web.prefix
        url = url.split("?", 1)[0].rstrip("/") + prefix.rstrip("/") + "/" + endpoint
        parts = urlsplit(url)
    query = [("exclude", name) for name in args.exclude]
    if not parts.path.endswith("/health"):
        query.append(("verbose", "1"))
    if query:
        url += ("&" if parts.query else "?") + urlencode(query)
    return url


def _remote(args: argparse.Namespace) -> int:
    url = _probe_url(args)
    token = args.token
    if token is None:
        configured = _config(args).health.details_token
        if configured is not None:
            token = configured.get_secret_value()
    headers = {"User-Agent": "erp-pro-health"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310
            status, body = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        exc.close()
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if not args.quiet:
            print(f"unhealthy: {url} is unreachable: {reason}", file=sys.stderr)
        return 1
    if not args.quiet:
        text = body.decode("utf-8", "replace")
        print(text, end="" if text.endswith("\n") else "\n")
    return 0 if 200 <= status < 300 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m erp_professional.health._cli``: the ``health`` command on its own."""
    parser = argparse.ArgumentParser(prog="erp-pro")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["health", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
