"""``erp-pro flags list|get|set|delete|kill|eval``: inspect and change flags from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ._flags import FeatureFlags
from ._model import FlagDefinitionError
from ._stores import ReadOnlyStoreError
from ._types import State

__all__ = ["register"]


def _flags(args: argparse.Namespace) -> FeatureFlags:
    if args.file:
        flags = FeatureFlags.from_file(args.file)
    elif args.url:
        flags = FeatureFlags.from_url(args.url, prefix=args.prefix)
    else:
        from erp_professional.config import load_config

        flags = FeatureFlags.from_config(load_config(getattr(args, "config", None)).flags)
    if flags.start(timeout=args.timeout) is not State.READY:
        raise RuntimeError(f"flags store not ready ({flags.state.value}): {flags.last_error}")
    return flags


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise ValueError(f"{what} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _list(args: argparse.Namespace) -> int:
    with _flags(args) as flags:
        for flag in flags.list_flags():
            rules = ",".join(s.name for s in flag.strategies) or "-"
            state = "on" if flag.enabled else "off"
            print(f"{flag.name}\t{state}\t{rules}")
    return 0


def _get(args: argparse.Namespace) -> int:
    with _flags(args) as flags:
        flag = flags.get_flag(args.name)
        if flag is None:
            print(f"flag {args.name!r} not found", file=sys.stderr)
            return 1
        print(json.dumps(flag.to_dict(), indent=2, sort_keys=True))
    return 0


def _set(args: argparse.Namespace) -> int:
    spec = _json_object(args.spec, "the flag spec")
    with _flags(args) as flags:
        flag = flags.set_flag(args.name, spec, actor=args.actor, reason=args.reason)
        print(json.dumps(flag.to_dict(), indent=2, sort_keys=True))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _flags(args) as flags:
        if not flags.delete_flag(args.name, actor=args.actor, reason=args.reason):
            print(f"flag {args.name!r} not found", file=sys.stderr)
            return 1
        print(f"deleted {args.name}")
    return 0


def _kill(args: argparse.Namespace) -> int:
    with _flags(args) as flags:
        try:
            flags.kill(args.name, actor=args.actor, reason=args.reason)
        except KeyError:
            print(f"flag {args.name!r} not found", file=sys.stderr)
            return 1
        print(f"killed {args.name}: off for everyone")
    return 0


def _eval(args: argparse.Namespace) -> int:
    context = _json_object(args.context, "--context")
    with _flags(args) as flags:
        details = flags.evaluate(args.name, context)
        variant = flags.get_variant(args.name, context)
        out = {
            "flag": details.flag_key,
            "value": details.value,
            "reason": details.reason.value,
            "error_code": details.error_code.value if details.error_code else None,
            "error_message": details.error_message,
            "rule": details.rule,
            "variant": variant.to_dict(),
        }
        print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def _guarded(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = handler(args)
        except (FlagDefinitionError, ReadOnlyStoreError, ValueError, RuntimeError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return result

    return run


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``flags list|get|set|delete|kill|eval`` to the ``erp-pro`` command."""
    parser = subparsers.add_parser("flags", help="list, show, change and evaluate feature flags")
    parser.add_argument("--url", help="store URL (memory://, redis://..., file:///path)")
    parser.add_argument("--file", help="flag file (JSON, YAML or TOML)")
    parser.add_argument("--prefix", default="erp_pro:flags", help="Redis key prefix")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the store")
    actions = parser.add_subparsers(dest="flags_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="one line per flag").set_defaults(func=_guarded(_list))
    get = actions.add_parser("get", help="a flag's definition as JSON")
    get.add_argument("name")
    get.set_defaults(func=_guarded(_get))
    put = actions.add_parser("set", help="create or replace a flag from a JSON spec")
    put.add_argument("name")
    put.add_argument("spec", help="e.g. '{\"rollout\": 25}' or '{\"enabled\": false}'")
    put.add_argument("--actor", default="cli", help="who makes the change (audit log)")
    put.add_argument("--reason", default="", help="why (audit log)")
    put.set_defaults(func=_guarded(_set))
    for action, handler, text in (
        ("delete", _delete, "remove a flag"),
        ("kill", _kill, "kill switch: turn a flag off for everyone"),
    ):
        cmd = actions.add_parser(action, help=text)
        cmd.add_argument("name")
        cmd.add_argument("--actor", default="cli", help="who makes the change (audit log)")
        cmd.add_argument("--reason", default="", help="why (audit log)")
        cmd.set_defaults(func=_guarded(handler))
    ev = actions.add_parser("eval", help="evaluate a flag for a context")
    ev.add_argument("name")
    ev.add_argument("--context", default="{}", help='JSON, e.g. \'{"userId": "42"}\'')
    ev.set_defaults(func=_guarded(_eval))
