"""The queue switched on by integrate(): pro.queue, its backlog check, the embedded worker."""

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from erp_professional import Queue, integrate


def asgi_app() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    return app


def wsgi_app() -> Any:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    return app


def test_queue_component_and_backlog_check() -> None:
    pro = integrate(asgi_app(), security__enabled=False)
    try:
        assert isinstance(pro.queue, Queue)
        assert "worker" not in pro.components
        with TestClient(pro) as client:
            checks = client.get("/_pro/health").json()["checks"]
        assert "queue:backlog" in checks
    finally:
        pro.shutdown()


def test_embedded_worker_runs_jobs_during_the_lifespan() -> None:
    pro = integrate(asgi_app(), queue__embedded_worker=True, queue__name="embedded")
    queue = pro.queue
    assert isinstance(queue, Queue)
    done: list[int] = []

    @queue.task
    def record(n: int) -> int:
        done.append(n)
        return n * 2

    with TestClient(pro):
        job = record.enqueue(n=21)
        deadline = time.monotonic() + 10
        while job.refresh().status.value != "completed":
            assert time.monotonic() < deadline, job.status
            time.sleep(0.02)
        assert job.result == 42
    assert done == [21]


def test_embedded_worker_is_refused_under_wsgi() -> None:
    with pytest.raises(ValueError, match="needs an ASGI app"):
        integrate(wsgi_app(), queue__embedded_worker=True)
