"""Queue used by the fault tests' worker processes (``erp-pro worker fault_app:queue``)."""

from __future__ import annotations

import asyncio
import os

import redis

from erp_professional.config import QueueConfig
from erp_professional.queue import Queue

URL = os.environ.get("QUEUE_FAULT_URL", "redis://127.0.0.1:6379/15")
queue = Queue(URL, "faults", config=QueueConfig(lease_time=2.0, grace_period=1.0, retries=0))
_log = redis.Redis.from_url(URL)


@queue.task(name="sleepy")
async def sleepy(i: int) -> int:
    _log.rpush("fault:runs", i)
    await asyncio.sleep(0.2)
    return i
