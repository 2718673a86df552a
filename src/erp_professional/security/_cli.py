"""``erp-pro apikeys create|list|revoke|rotate``.

The store URL and pepper come from the configuration (``ERP_PRO_SECURITY__API_KEYS__*``
or the TOML file); the pepper is never a command-line argument (it would land in the
shell history). A new key is printed once, on its own line, and never stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TextIO

from ._apikeys import ApiKey, ApiKeyError, ApiKeys

__all__ = ["register"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``30d``, ``2w`` (or plain seconds) to seconds."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        amount = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use 90s, 15m, 12h, 30d)"
        ) from None
    if amount < 0:
        raise argparse.ArgumentTypeError("a duration cannot be negative")
    return amount * _UNITS[unit]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``apikeys`` command group to the ``erp-pro`` parser."""
    parser = subparsers.add_parser("apikeys", help="create, list, revoke and rotate API keys")
    parser.add_argument("--store-url", help="overrides security.api_keys.store_url")
    commands = parser.add_subparsers(dest="apikeys_command", required=True)

    create = commands.add_parser("create", help="make a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", default=[], dest="scopes")
    create.add_argument("--expires-in", type=_duration, help="e.g. 30d, 12h")
    create.add_argument("--json", action="store_true")

    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true")

    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")

    rotate = commands.add_parser("rotate", help="make a replacement; the old key keeps working")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap", type=_duration, default=86400.0, help="default 1d")
    rotate.add_argument("--expires-in", type=_duration)
    rotate.add_argument("--json", action="store_true")

    parser.set_defaults(func=run)


def _manager(args: argparse.Namespace) -> ApiKeys:
    from ..config import load_config

    overrides = {}
    if args.store_url:
        overrides["security__api_keys__store_url"] = args.store_url
    cfg = load_config(getattr(args, "config", None), **overrides).security.api_keys
    if cfg.store_url.startswith("memory://"):
        raise SystemExit(
            "erp-pro apikeys needs a persistent store: set ERP_PRO_SECURITY__API_KEYS__STORE_URL "
            "(sqlite:///…, postgresql://…, redis://…) or pass --store-url"
        )
    if cfg.pepper is None:
        raise SystemExit("erp-pro apikeys needs the pepper: set ERP_PRO_SECURITY__API_KEYS__PEPPER")
    return ApiKeys(
        cfg.store_url,
        pepper=cfg.pepper.get_secret_value(),
        prefix=cfg.prefix,
        table=cfg.table,
        namespace=cfg.namespace,
    )


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(value))


def _row(record: ApiKey) -> str:
    state = (
        "revoked"
        if record.revoked_at is not None
        else (
            "expired"
            if record.expires_at is not None and record.expires_at <= time.time()
            else "active"
        )
    )
    return (
        f"{record.id}  {record.prefix}_…{record.hint}  {state:<7}  {record.name}  "
        f"scopes={','.join(record.scopes) or '-'}  expires={_when(record.expires_at)}  "
        f"last_used={_when(record.last_used_at)}"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one ``apikeys`` command; returns the exit status."""
    stream = out if out is not None else sys.stdout
    keys = _manager(args)
    try:
        command = args.apikeys_command
        if command == "create":
            made = keys.create(args.name, args.scopes, expires_in=args.expires_in)
            if args.json:
                print(json.dumps({**made.record.public(), "key": made.secret}), file=stream)
            else:
                print(f"id: {made.record.id}", file=stream)
                print("key (shown once, store it now):", file=stream)
                print(made.secret, file=stream)
        elif command == "list":
            records = keys.list()
            if args.json:
                print(json.dumps([r.public() for r in records]), file=stream)
            else:
                for record in records:
                    print(_row(record), file=stream)
        elif command == "revoke":
            print(_row(keys.revoke(args.key_id)), file=stream)
        else:
            made = keys.rotate(args.key_id, overlap=args.overlap, expires_in=args.expires_in)
            if args.json:
                print(json.dumps({**made.record.public(), "key": made.secret}), file=stream)
            else:
                print(f"id: {made.record.id} (replaces {args.key_id})", file=stream)
                print("key (shown once, store it now):", file=stream)
                print(made.secret, file=stream)
        return 0
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    except ApiKeyError as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 1
    finally:
        keys.close()
