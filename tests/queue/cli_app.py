"""A queue for the CLI tests (``--app cli_app:queue``)."""

from __future__ import annotations

import os

from erp_professional.queue import Queue

queue = Queue(os.environ.get("QUEUE_CLI_URL", "memory://cli"), "cli")


@queue.task(name="report.weekly")
def weekly(team: str) -> str:
    return team
