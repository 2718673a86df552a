"""Queue run by two worker processes in the limits test (``erp-pro worker limits_app:queue``)."""

from __future__ import annotations

import asyncio
import json
import os
import time

import redis

from erp_professional.config import QueueConfig
from erp_professional.queue import Queue

URL = os.environ.get("QUEUE_LIMITS_URL", "redis://127.0.0.1:6379/15")
queue = Queue(URL, "limits2p", config=QueueConfig(retries=0, lease_time=5.0, grace_period=1.0))
_log = redis.Redis.from_url(URL)


@queue.task(name="limited", concurrency_limit=3)
async def limited(i: int) -> None:
    start = time.time()
    await asyncio.sleep(0.05)
    _log.rpush("limits:spans", json.dumps([start, time.time(), os.getpid()]))


@queue.task(name="paced", rate_limit="4/second")
async def paced(i: int) -> None:
    return None


@queue.task(name="free")
async def free(i: int) -> None:
    _log.rpush("limits:free", json.dumps([time.time(), os.getpid()]))
