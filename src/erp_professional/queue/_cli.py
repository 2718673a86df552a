"""``erp-pro worker module:queue`` and ``erp-pro queue dead|retry|purge|schedules``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from typing import Any

from ._model import JobInfo
from ._queue import AsyncQueue, Queue

__all__ = ["register"]


def load_target(target: str) -> Queue | AsyncQueue:
    """Import ``package.module:attribute`` (from the current directory too) and check it."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected module:attribute, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if not isinstance(value, Queue | AsyncQueue):
        raise ValueError(f"{target} is a {type(value).__name__}, not a Queue or AsyncQueue")
    return value


def _queue(args: argparse.Namespace) -> Queue:
    if args.app:
        target = load_target(args.app)
        return Queue(config=target.config, store=target.memory)
    from erp_professional.config import load_config

    config = load_config(getattr(args, "config", None)).queue
    return Queue(args.url, args.name, config=config)


def _worker(args: argparse.Namespace) -> int:
    from ._worker import Worker

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    queue = load_target(args.target)
    worker = Worker(
        queue,
        concurrency=args.concurrency,
        lease_time=args.lease_time,
        grace_period=args.grace_period,
        scheduler=False if args.no_scheduler else None,
    )
    print(
        f"worker {worker.id} on queue {queue.name!r} at {queue.url} "
        f"(concurrency {worker.concurrency}, lease {worker.lease_time:g} s)",
        flush=True,
    )
    worker.run()
    return 0


def _show(job: JobInfo, verbose: bool) -> str:
    when = job.finished_at.isoformat() if job.finished_at else "-"
    line = f"{job.id}  {job.task}  failures={job.failures} stalls={job.stalls}  {when}\n"
    line += f"    {job.error or ''}"
    if verbose and job.traceback:
        line += "\n" + "\n".join("    " + t for t in job.traceback.rstrip().splitlines())
    return line


def _dead(args: argparse.Namespace) -> int:
    jobs = _queue(args).dead(0, args.limit)
    if args.json:
        rows = [
            {"id": j.id, "task": j.task, "kwargs": j.kwargs, "error": j.error,
             "traceback": j.traceback, "failures": j.failures, "stalls": j.stalls}
            for j in jobs
        ]  # fmt: skip
        print(json.dumps(rows, indent=2))
    else:
        for job in jobs:
            print(_show(job, args.verbose))
        print(f"{len(jobs)} dead letter(s)")
    return 0


def _ids(args: argparse.Namespace) -> list[str] | None:
    if args.all == bool(args.ids):
        raise ValueError("give job ids or --all (not both)")
    return None if args.all else list(args.ids)


def _retry(args: argparse.Namespace) -> int:
    count = _queue(args).retry_dead(_ids(args))
    print(f"{count} job(s) moved back to waiting")
    return 0


def _purge(args: argparse.Namespace) -> int:
    count = _queue(args).purge_dead(_ids(args))
    print(f"{count} dead letter(s) deleted")
    return 0


def _schedules(args: argparse.Namespace) -> int:
    rows = _queue(args).schedules()
    for row in rows:
        s = row.schedule
        print(
            f"{s.id}  {s.cron!r}  -> {s.task}  {row.description}; misfire {s.misfire.value}; "
            f"next {row.next_fire.isoformat()}"
        )
    print(f"{len(rows)} schedule(s)")
    return 0


def _guard(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = handler(args)
        except (ValueError, LookupError, ImportError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return result

    return run


def register(subparsers: Any) -> None:
    """Add ``worker`` and ``queue`` to the ``erp-pro`` command."""
    worker = subparsers.add_parser("worker", help="run a job queue worker")
    worker.add_argument("target", help="module:attribute of a Queue or AsyncQueue")
    worker.add_argument("--concurrency", type=int, help="jobs run at once (default: config)")
    worker.add_argument("--lease-time", type=float, help="seconds a job's lease lasts")
    worker.add_argument("--grace-period", type=float, help="seconds to finish jobs at stop")
    worker.add_argument("--no-scheduler", action="store_true", help="do not fire cron schedules")
    worker.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    worker.set_defaults(func=_guard(_worker))

    queue = subparsers.add_parser("queue", help="inspect dead letters and schedules of a queue")
    queue.add_argument("--app", help="module:attribute of a Queue (else --url/--name/config)")
    queue.add_argument("--url", help="queue URL (default: configuration)")
    queue.add_argument("--name", help="queue name (default: configuration)")
    actions = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    dead = actions.add_parser("dead", help="list dead letters, newest first")
    dead.add_argument("--limit", type=int, default=50)
    dead.add_argument("--json", action="store_true")
    dead.add_argument("-v", "--verbose", action="store_true", help="with tracebacks")
    dead.set_defaults(func=_guard(_dead))
    for name, handler, text in (
        ("retry", _retry, "move dead letters back to waiting"),
        ("purge", _purge, "delete dead letters"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("ids", nargs="*", help="job ids")
        action.add_argument("--all", action="store_true", help="every dead letter")
        action.set_defaults(func=_guard(handler))
    actions.add_parser("schedules", help="list cron schedules, described").set_defaults(
        func=_guard(_schedules)
    )
