"""The ``erp-pro`` command: ``version``, ``config show|check``, ``demo`` and each capability's
own commands (``health``, ``flags``, ``events``, ``queue``, ``worker``, ``apikeys``, ...)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from ._version import __version__
from .config import ConfigError, load_config

# Modules that add their own sub-commands with ``register(subparsers)``.
CAPABILITY_COMMANDS: tuple[str, ...] = (
    "erp_professional.events._cli",
    "erp_professional.flags._cli",
    "erp_professional.health._cli",
    "erp_professional.queue._cli",
    "erp_professional.resilience._cli",
    "erp_professional.security._cli",
)


def _load(args: argparse.Namespace) -> int | None:
    try:
        args.loaded_config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return None


def _version(args: argparse.Namespace) -> int:
    print(f"erp-professional {__version__}")
    return 0


def _config_show(args: argparse.Namespace) -> int:
    failed = _load(args)
    if failed is not None:
        return failed
    print(json.dumps(args.loaded_config.masked(), indent=2, sort_keys=True))
    return 0


def _config_check(args: argparse.Namespace) -> int:
    failed = _load(args)
    if failed is not None:
        return failed
    print("configuration is valid")
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print("the demo needs uvicorn: pip install 'erp-professional[demo]'", file=sys.stderr)
        return 2
    from .demo import create_app

    app = create_app()
    base = f"http://{args.host}:{args.port}"
    print(f"erp_professional demo service on {base}")
    print("Try:")
    print(f"  curl -s {base}/invoices")
    print(
        f"  curl -s -X POST {base}/invoices -H 'content-type: application/json' "
        """-d '{"customer": "ACME", "lines": [{"description": "Widget", "quantity": 2, """
        """"unit_price": "9.50"}]}'"""
    )
    print(f"  curl -s -X POST {base}/invoices/1/pay")
    print(f"  curl -s {base}/_pro/   (the toolkit's endpoints)")
    print(f"  curl -s {base}/docs    (OpenAPI UI)")
    # The app's logging setup owns the output: uvicorn keeps its hands off it, and its
    # access log would only repeat the toolkit's.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erp-pro", description="erp_professional: the production layer for Python services."
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML configuration file (default: ERP_PRO_CONFIG_FILE)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("version", help="print the version").set_defaults(func=_version)

    config = sub.add_parser("config", help="show or check the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_sub.add_parser("show", help="print it as JSON, secrets masked").set_defaults(
        func=_config_show
    )
    config_sub.add_parser("check", help="validate it; exit 2 when invalid").set_defaults(
        func=_config_check
    )

    demo = sub.add_parser("demo", help="run the demo ERP service")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=_demo)

    for module in CAPABILITY_COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
