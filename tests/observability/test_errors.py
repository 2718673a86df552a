"""Sentry: setup, the error reporter (once per exception), scrubbing, capture helpers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from erp_professional import integrate
from erp_professional.observability import (
    SentryReporter,
    capture_exception,
    capture_message,
    setup_sentry,
)

from .conftest import SENTRY_DSN, TRACE_ID, TRACEPARENT, CapturingTransport, Spans

Events = Callable[[], list[dict[str, Any]]]


def test_no_dsn_is_a_no_op(sentry_events: Events) -> None:
    assert setup_sentry(None) is False
    assert setup_sentry("") is False
    assert not sentry_sdk.get_client().is_active()
    assert capture_message("hello") is None
    assert capture_exception(ValueError("x")) is None
    assert sentry_events() == []


class User:
    id = "u-17"


@pytest.fixture
def app(spans: Spans, sentry_events: Events) -> Iterator[TestClient]:
    async def fail(request: Request) -> JSONResponse:
        request.scope["state"]["_"] = None
        raise RuntimeError("charge failed: password=hunter2")

    async def logged(request: Request) -> JSONResponse:
        try:
            raise KeyError("lookup")
        except KeyError:
            logging.getLogger("erp_professional.test").exception("handled and logged")
        return JSONResponse({})

    async def helper(request: Request) -> JSONResponse:
        capture_message("custom note with token=abc123", level="warning", area="billing")
        return JSONResponse({})

    app = Starlette(
        routes=[
            Route("/orders/{order_id}/pay", fail),
            Route("/logged", logged),
            Route("/helper", helper),
        ]
    )
    pro = integrate(
        app,
        observability__tracing__exporter="memory",
        observability__sentry__dsn=SENTRY_DSN,
        observability__sentry__environment="test",
    )
    # The transport is sentry-sdk's real client machinery minus the network.
    client = sentry_sdk.get_client()
    client.transport = CapturingTransport(client.options)

    def principal(ex: Any) -> None:
        ex.principal = User()

    pro.pipeline.error_reporters.insert(0, lambda ex, exc: principal(ex))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_unhandled_exception_gives_one_scrubbed_tagged_event(
    app: TestClient, sentry_events: Events, spans: Spans
) -> None:
    reply = app.get(
        "/orders/7/pay?api_key=k-1",
        headers={
            "traceparent": TRACEPARENT,
            "x-request-id": "req-7",
            "authorization": "Bearer very-secret",
            "cookie": "sessionid=s3ss10n",
            "x-api-key": "key-123",
        },
    )
    assert reply.status_code == 500
    sentry_sdk.get_client().flush(timeout=2)
    (event,) = sentry_events()
    assert event["tags"]["request_id"] == "req-7"
    assert event["tags"]["trace_id"] == TRACE_ID
    assert event["tags"]["http.route"] == "/orders/{order_id}/pay"
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert event["environment"] == "test"
    assert event["user"] == {"id": "u-17"}
    assert event["request"]["method"] == "GET"
    assert event["request"]["url"].endswith("/orders/7/pay")
    (exc,) = event["exception"]["values"]
    assert exc["type"] == "RuntimeError"
    assert exc["value"] == "charge failed: password=[REDACTED]"
    text = json.dumps(event)
    for secret in ("very-secret", "s3ss10n", "key-123", "hunter2", "k-1&", "=k-1"):
        assert secret not in text, secret


def test_logged_exceptions_do_not_duplicate(app: TestClient, sentry_events: Events) -> None:
    # The logging integration turns the error log line into one event; our own log lines
    # (the access log) never become events.
    app.get("/logged")
    sentry_sdk.get_client().flush(timeout=2)
    events = sentry_events()
    assert len(events) == 1
    assert events[0]["logentry"]["message"] == "handled and logged"


def test_framework_integration_capturing_first_means_no_second_event(
    spans: Spans, sentry_events: Events
) -> None:
    setup_sentry(SENTRY_DSN, transport=CapturingTransport)
    reporter = SentryReporter()
    from .apps import Driven

    driven = Driven("asgi")
    try:
        error = RuntimeError("seen twice")
        sentry_sdk.capture_exception(error)  # e.g. the framework's own Sentry middleware
        from erp_professional.web import current_exchange

        assert current_exchange() is None
        reporter(_exchange(driven), error)
        reporter(_exchange(driven), error)
        sentry_sdk.get_client().flush(timeout=2)
        assert len(sentry_events()) == 1
        other = RuntimeError("reported by us first")
        reporter(_exchange(driven), other)
        sentry_sdk.capture_exception(other)  # the framework integration after us
        sentry_sdk.get_client().flush(timeout=2)
        assert len(sentry_events()) == 2
    finally:
        driven.close()


def _exchange(driven: Any) -> Any:
    from erp_professional.web import Exchange

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    return Exchange.from_asgi(scope, driven.pro.pipeline)


def test_capture_helpers_tag_and_redact(app: TestClient, sentry_events: Events) -> None:
    app.get("/helper", headers={"x-request-id": "req-h", "traceparent": TRACEPARENT})
    try:
        raise ValueError("outside any request")
    except ValueError:
        event_id = capture_exception(team="core")
    assert event_id is not None
    sentry_sdk.get_client().flush(timeout=2)
    note, error = sentry_events()
    assert note["message"] == "custom note with token=[REDACTED]"
    assert note["level"] == "warning"
    assert note["tags"]["area"] == "billing"
    assert note["tags"]["request_id"] == "req-h"
    assert note["tags"]["trace_id"] == TRACE_ID
    assert error["tags"]["team"] == "core"
    assert "request_id" not in error["tags"]


def test_setup_from_config_sets_release_and_scrubber(sentry_events: Events) -> None:
    from erp_professional.config import load_config

    cfg = load_config(
        service__name="billing",
        service__version="2.0.1",
        observability__sentry__dsn=SENTRY_DSN,
    )
    assert setup_sentry(cfg, transport=CapturingTransport) is True
    options = sentry_sdk.get_client().options
    assert options["release"] == "billing@2.0.1"
    assert options["environment"] == "development"
    assert not options["send_default_pii"]
    assert "authorization" in options["event_scrubber"].denylist
    assert "**********" in json.dumps(cfg.masked())
    assert SENTRY_DSN not in json.dumps(cfg.masked())
