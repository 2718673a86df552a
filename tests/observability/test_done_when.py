"""One request, one correlated story: span, access log line, metrics, Sentry event.

Run on FastAPI, Flask and Django (the example app) through integrate().
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from opentelemetry.trace import SpanKind, StatusCode

from erp_professional import integrate

from .conftest import SENTRY_DSN, TRACE_ID, TRACEPARENT, CapturingTransport, Logs, Spans
from .test_metrics import value

OVERRIDES = {
    "observability__tracing__exporter": "memory",
    "observability__sentry__dsn": SENTRY_DSN,
}


class Client:
    def __init__(self, get: Callable[[str, dict[str, str]], tuple[int, bytes]], close: Any):
        self.get = get
        self.close = close


def fastapi_client() -> tuple[Client, str]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/hello/{name}")
    def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    integrate(app, **OVERRIDES)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()

    def get(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        reply = client.get(path, headers=headers)
        return reply.status_code, reply.content

    return Client(get, lambda: client.__exit__(None, None, None)), "/hello/{name}"


def _werkzeug(app: Any) -> Client:
    from werkzeug.test import Client as WerkzeugClient

    client = WerkzeugClient(app)

    def get(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        reply = client.get(path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        body = reply.get_data()
        reply.close()
        return reply.status_code, body

    return Client(get, lambda: None)


def flask_client() -> tuple[Client, str]:
    from flask import Flask

    app = Flask("done_when")

    @app.get("/hello/<name>")
    def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    integrate(app, **OVERRIDES)
    return _werkzeug(app), "/hello/<name>"


def django_client() -> tuple[Client, str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application

    pro = integrate(get_wsgi_application(), **OVERRIDES)
    return _werkzeug(pro), "/hello/<str:name>"


@pytest.fixture(
    params=[fastapi_client, flask_client, django_client], ids=["fastapi", "flask", "django"]
)
def service(
    request: pytest.FixtureRequest,
    spans: Spans,
    sentry_events: Any,
    capture_logs: Callable[..., Logs],
) -> Iterator[tuple[Client, str, Logs]]:
    client, route = request.param()
    sentry = sentry_sdk.get_client()
    sentry.transport = CapturingTransport(sentry.options)
    logs = capture_logs()
    spans.clear()
    yield client, route, logs
    client.close()


def test_one_request_one_correlated_story(
    service: tuple[Client, str, Logs], spans: Spans, sentry_events: Any
) -> None:
    client, route, logs = service
    headers = {"traceparent": TRACEPARENT, "x-request-id": "story-1"}
    status, _ = client.get("/hello/ada", headers)
    assert status == 200

    # 1. A server span in the caller's trace, named by the route template.
    (server,) = [s for s in spans.finished() if s.kind is SpanKind.SERVER]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.name == f"GET {route}"
    # 2. A JSON access log line with the same trace id and the request id.
    (access,) = logs.by_logger("erp_professional.access")
    assert access["trace_id"] == TRACE_ID
    assert access["request_id"] == "story-1"
    assert access["span_id"] == format(server.context.span_id, "016x")
    assert access["route"] == route
    # 3. Histogram points on /metrics for that route.
    status, body = client.get("/_pro/metrics", {})
    assert status == 200
    text = body.decode()
    assert value(text, "http_server_request_duration_seconds_count", http_route=route) >= 1
    assert (
        value(text, "http_server_request_duration_seconds_bucket", http_route=route, le="+Inf") >= 1
    )

    # 4. A failing endpoint: one scrubbed Sentry event tagged with both ids.
    headers = {
        "traceparent": TRACEPARENT,
        "x-request-id": "story-2",
        "authorization": "Bearer top-secret",
    }
    status, _ = client.get("/boom", headers)
    assert status == 500
    sentry_sdk.get_client().flush(timeout=2)
    (event,) = sentry_events()
    assert event["tags"]["request_id"] == "story-2"
    assert event["tags"]["trace_id"] == TRACE_ID
    message = event["exception"]["values"][0]["value"]
    assert message in ("database password is [REDACTED]", "this message never reaches the client")
    dumped = json.dumps(event)
    assert "hunter2" not in dumped and "top-secret" not in dumped
    failing = [s for s in spans.finished() if s.name == "GET /boom"]
    assert failing and failing[0].status.status_code is StatusCode.ERROR
    # The error log line of the same request carries the same ids, exception structured.
    errors = [line for line in logs.lines() if line.get("exception")]
    assert errors and all(line["request_id"] == "story-2" for line in errors)
    assert all(line["trace_id"] == TRACE_ID for line in errors)
