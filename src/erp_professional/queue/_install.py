"""Switch the job queue on for a :class:`~erp_professional.hub.Professional`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..health import HealthRegistry
from ._queue import Queue
from ._worker import Worker

if TYPE_CHECKING:
    from ..hub import Professional

__all__ = ["install"]


def install(pro: Professional) -> None:
    """Register ``pro.queue`` (the configured :class:`Queue`), its backlog health check and,
    with ``queue.embedded_worker``, a :class:`Worker` run by the app's lifespan.

    Building the queue does no I/O (a Redis connection opens on first use). An embedded worker
    needs an event loop for the life of the app, so it is offered under ASGI only; next to a
    WSGI app run ``erp-pro worker module:queue`` as its own process.
    """
    config = pro.config.queue
    queue = Queue(config=config)
    pro.register("queue", queue)
    health = pro.components.get("health")
    if isinstance(health, HealthRegistry):
        health.register("queue:backlog", queue.backlog_check(), critical=False)
    if config.embedded_worker:
        if pro.server_kind != "asgi":
            raise ValueError(
                "queue.embedded_worker needs an ASGI app (its lifespan runs the worker); "
                "next to a WSGI app run 'erp-pro worker module:queue' as its own process"
            )
        worker = Worker(queue)
        pro.register("worker", worker)
        pro.on_startup(worker.start)
        pro.on_shutdown(worker.stop)
