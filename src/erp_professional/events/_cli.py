"""``erp-pro events tail|replay|stats|audit``."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from datetime import datetime
from typing import Any

from ._projection import ProjectionRunner
from ._store import EventStore
from ._types import RecordedEvent

__all__ = ["register"]


def _store(args: argparse.Namespace) -> EventStore:
    from erp_professional.config import load_config

    config = load_config(getattr(args, "config", None)).events
    return EventStore(args.url, config=config, table_prefix=args.table_prefix)


def _row(event: RecordedEvent) -> dict[str, Any]:
    return {
        "position": event.position,
        "stream_id": event.stream_id,
        "version": event.version,
        "type": event.type,
        "id": str(event.id),
        "recorded_at": event.recorded_at.isoformat(),
        "metadata": event.metadata.as_dict(),
        "data": event.data,
    }


def _print(event: RecordedEvent, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_row(event), ensure_ascii=False), flush=True)
        return
    meta = event.metadata
    who = f" actor={meta.actor}" if meta.actor else ""
    corr = f" correlation={meta.correlation_id}" if meta.correlation_id else ""
    print(
        f"{event.position:>8}  {event.recorded_at.isoformat(timespec='seconds')}  "
        f"{event.stream_id}@{event.version}  {event.type}{who}{corr}  "
        f"{json.dumps(event.data, ensure_ascii=False)}",
        flush=True,
    )


def _tail(args: argparse.Namespace) -> int:
    with _store(args) as store:
        after = args.after
        if after is None:
            after = max(0, store.backend.last_position() - args.lines)
        types = args.types or None
        if not args.follow:
            for event in store.read_all(after, args.limit, types, args.prefix):
                _print(event, args.json)
            return 0
        with store.subscribe(after, types, args.prefix) as sub:
            try:
                for event in sub:
                    _print(event, args.json)
            except KeyboardInterrupt:
                return 0
    return 0


def _stats(args: argparse.Namespace) -> int:
    with _store(args) as store:
        stats = dataclasses.asdict(store.stats())
    if args.json:
        print(json.dumps(stats))
    else:
        for key, value in stats.items():
            print(f"{key}: {value}")
    return 0


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"give a time zone in {text!r} (e.g. 2026-01-31T00:00:00+00:00)")
    return moment


def _audit(args: argparse.Namespace) -> int:
    with _store(args) as store:
        events = store.audit(
            actor=args.actor,
            correlation_id=args.correlation_id,
            stream_id=args.stream,
            since=_when(args.since),
            until=_when(args.until),
            tenant=args.tenant,
            limit=args.limit,
        )
    for event in events:
        _print(event, args.json)
    if not args.json:
        print(f"{len(events)} event(s)", file=sys.stderr)
    return 0


def load_runner(target: str) -> ProjectionRunner:
    """Import ``module:attribute``: a ProjectionRunner or a callable returning one."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected module:attribute, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if callable(value) and not isinstance(value, ProjectionRunner):
        value = value()
    if not isinstance(value, ProjectionRunner):
        raise ValueError(f"{target} is a {type(value).__name__}, not a ProjectionRunner")
    return value


def _replay(args: argparse.Namespace) -> int:
    runner = load_runner(args.target)
    if args.resume:
        count = runner.run_once()
        print(f"{runner.name}: {count} event(s) processed, checkpoint {runner.checkpoint}")
    else:
        count = runner.rebuild()
        print(f"{runner.name}: rebuilt from {count} event(s), checkpoint {runner.checkpoint}")
    return 0


def _guard(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = handler(args)
        except (ValueError, LookupError, ImportError, OSError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return result

    return run


def register(subparsers: Any) -> None:
    """Add ``events`` (tail, replay, stats, audit) to the ``erp-pro`` command."""
    events = subparsers.add_parser("events", help="inspect the event store and replay projections")
    events.add_argument("--url", help="event store URL (default: configuration events.url)")
    events.add_argument("--table-prefix", help="table prefix (default: configuration)")
    actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")

    tail = actions.add_parser("tail", help="print the latest events; --follow for live ones")
    tail.add_argument("--after", type=int, help="start after this position")
    tail.add_argument("-n", "--lines", type=int, default=20, help="last N events (default 20)")
    tail.add_argument("--limit", type=int, help="print at most this many")
    tail.add_argument("--type", dest="types", action="append", help="only this type (repeat)")
    tail.add_argument("--prefix", help="only streams starting with this")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.set_defaults(func=_guard(_tail))

    replay = actions.add_parser("replay", help="rebuild a projection from position 0")
    replay.add_argument("target", help="module:attribute of a ProjectionRunner (or a factory)")
    replay.add_argument(
        "--resume", action="store_true", help="process from its checkpoint instead of rebuilding"
    )
    replay.set_defaults(func=_guard(_replay))

    stats = actions.add_parser("stats", help="count events, streams and snapshots")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=_guard(_stats))

    audit = actions.add_parser("audit", help="the audit trail, filtered")
    audit.add_argument("--actor")
    audit.add_argument("--correlation-id")
    audit.add_argument("--stream")
    audit.add_argument("--tenant")
    audit.add_argument("--since", help="ISO time with zone, inclusive")
    audit.add_argument("--until", help="ISO time with zone, exclusive")
    audit.add_argument("--limit", type=int)
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.set_defaults(func=_guard(_audit))
