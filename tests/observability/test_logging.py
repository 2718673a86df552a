"""loguru set up once: JSON lines, stdlib interception, context propagation, redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from erp_professional import integrate
from erp_professional._sections.observability import LoggingConfig
from erp_professional.observability import Redactor, logger, setup_logging
from erp_professional.observability._access import AccessLogConcern
from erp_professional.observability._logging import teardown_logging

from .conftest import TRACE_ID, TRACEPARENT, Logs, Spans

CaptureLogs = Callable[..., Logs]


def test_json_lines_are_flat(capture_logs: CaptureLogs) -> None:
    logs = capture_logs()
    logger.bind(order_id=42, tags=["a"]).info("order placed")
    (line,) = logs.lines()
    assert line["message"] == "order placed"
    assert line["level"] == "INFO"
    assert line["order_id"] == 42 and line["tags"] == ["a"]
    assert line["time"].endswith("+00:00")
    assert "logger" in line
    assert "request_id" not in line  # outside a request: no empty ids


def test_level_filter(capture_logs: CaptureLogs) -> None:
    logs = capture_logs(level="WARNING")
    logger.info("quiet")
    logging.getLogger("erp_professional.any").info("quiet too")
    logger.warning("loud")
    assert [line["message"] for line in logs.lines()] == ["loud"]


def test_stdlib_logging_comes_out_in_the_same_format(capture_logs: CaptureLogs) -> None:
    server_log = logging.getLogger("uvicorn.error")
    # A uvicorn started earlier in this process may have left its logger at WARNING.
    previous_level = server_log.level
    server_log.setLevel(logging.INFO)
    own = logging.StreamHandler(io.StringIO())
    server_log.addHandler(own)
    server_log.propagate = False
    logs = capture_logs()
    logging.getLogger("erp_professional.flags").warning(
        "flag %s evaluated", "beta", extra={"flag_key": "beta"}
    )
    server_log.info("Started server process")
    lines = logs.lines()
    assert lines[0]["logger"] == "erp_professional.flags"
    assert lines[0]["message"] == "flag beta evaluated"
    assert lines[0]["level"] == "WARNING"
    assert lines[0]["flag_key"] == "beta"
    assert lines[1]["logger"] == "uvicorn.error"
    assert own not in server_log.handlers
    teardown_logging()
    assert own in server_log.handlers  # restored
    server_log.removeHandler(own)
    server_log.propagate = True
    server_log.setLevel(previous_level)


def test_exception_is_a_structured_field(capture_logs: CaptureLogs) -> None:
    logs = capture_logs()
    try:
        raise ValueError("bad input token=s3cr3t")
    except ValueError:
        logging.getLogger("erp_professional.test").exception("could not parse")
        logger.exception("loguru too")
    first, second = logs.lines()
    for line in (first, second):
        assert "Traceback" not in line["message"]
        exc = line["exception"]
        assert exc["type"] == "ValueError"
        assert exc["message"] == "bad input token=[REDACTED]"
        assert exc["frames"][-1]["function"] == "test_exception_is_a_structured_field"
    assert first["message"] == "could not parse"


def test_redaction_in_messages_and_extras(capture_logs: CaptureLogs) -> None:
    logs = capture_logs(redact_patterns=[r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"], redact_keys=["iban"])
    logger.bind(
        password="hunter2",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Accept": "text/html"},
        iban="DE89370400440532013000",
        nested=[{"api_key": "k-123"}],
    ).info(
        "login with Authorization: Bearer eyJhbGciOi.abc and card 4111-1111-1111-1111 "
        "from postgresql://app:dbpass@db/prod cookie: session=abc; theme=dark"
    )
    (line,) = logs.lines()
    text = json.dumps(line)
    for secret in (
        "hunter2",
        "dXNlcjpwYXNz",
        "eyJhbGciOi",
        "4111-1111",
        "DE8937",
        "k-123",
        "dbpass",
        "session=abc",
    ):
        assert secret not in text, secret
    assert line["headers"]["Accept"] == "text/html"
    assert line["password"] == "[REDACTED]"
    assert "login with" in line["message"]


secret_text = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=8, max_size=40
)
templates = st.sampled_from(
    [
        "password={}",
        "PASSWORD: {}",
        '{{"api_key": "{}"}}',
        "token={}&page=2",
        "Authorization: Bearer {}",
        "X-API-Key: {}",
        "client_secret={}",
        "refresh_token: {}",
        "redis://user:{}@cache:6379",
        "Set-Cookie: sid={}; HttpOnly",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secret_text, template=templates, prefix=st.text(alphabet=" .,;!?()[]", max_size=20))
def test_secrets_never_survive_redaction(secret: str, template: str, prefix: str) -> None:
    redacted = Redactor().text(prefix + " " + template.format(secret))
    assert secret not in redacted
    assert "[REDACTED]" in redacted


def test_console_format(capture_logs: CaptureLogs) -> None:
    stream = io.StringIO()
    sink = setup_logging(LoggingConfig(format="console"), stream=stream)
    logger.bind(user_id=7).warning("disk almost full")
    text = stream.getvalue()
    assert "WARNING" in text and "disk almost full" in text and "user_id=7" in text
    assert not text.startswith("{")
    sink.colour = True
    logger.error("red")
    assert "\x1b[31m" in stream.getvalue()


def test_stdout_and_auto_format(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(LoggingConfig(stream="stdout", format="auto"))
    try:
        logger.info("to stdout")
        out = capsys.readouterr().out
        assert json.loads(out)["message"] == "to stdout"  # not a terminal: JSON
    finally:
        teardown_logging()


@pytest.fixture
def threaded_app(spans: Spans) -> Iterator[TestClient]:
    log = logging.getLogger("erp_professional.test")

    async def work(request: Request) -> JSONResponse:
        log.info("in handler")
        thread = threading.Thread(target=lambda: log.info("in thread"))
        thread.start()
        thread.join()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: log.info("in executor"))
        await asyncio.to_thread(lambda: logger.info("in to_thread"))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/work/{n}", work)])
    integrate(app, observability__tracing__exporter="memory")
    with TestClient(app) as client:
        yield client


def test_context_reaches_threads_and_executors(
    threaded_app: TestClient, capture_logs: CaptureLogs, spans: Spans
) -> None:
    logs = capture_logs()
    reply = threaded_app.get("/work/1", headers={"traceparent": TRACEPARENT, "x-request-id": "r-9"})
    assert reply.status_code == 200
    lines = {line["message"]: line for line in logs.lines()}
    for message in ("in handler", "in thread", "in executor", "in to_thread"):
        assert lines[message]["request_id"] == "r-9", message
        assert lines[message]["trace_id"] == TRACE_ID, message
    # Work outside a request carries no stale ids.
    logging.getLogger("erp_professional.test").info("after")
    assert "request_id" not in logs.lines()[-1]


class _Rng:
    def __init__(self, values: list[float]) -> None:
        self.values = values

    def __call__(self) -> float:
        return self.values.pop(0)


@pytest.fixture
def access_app(spans: Spans) -> Iterator[tuple[TestClient, Any]]:
    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    async def fail(request: Request) -> JSONResponse:
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/items/{item_id}", item), Route("/fail", fail)])
    pro = integrate(app, observability__tracing__exporter="memory")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, pro


def access_lines(logs: Logs) -> list[dict[str, Any]]:
    return logs.by_logger("erp_professional.access")


@pytest.mark.parametrize(
    "overrides",
    [
        {"observability__tracing__enabled": False},
        {"observability__tracing__excluded_paths": ["/items/{item_id}"]},
    ],
)
def test_access_log_reads_the_user_agent_without_the_tracing_scan(
    capture_logs: CaptureLogs, overrides: dict[str, Any]
) -> None:
    async def item(request: Any) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    app = Starlette(routes=[Route("/items/{item_id}", item)])
    integrate(app, observability__tracing__exporter="memory", **overrides)
    with TestClient(app) as client:
        logs = capture_logs()
        client.get("/items/3", headers={"user-agent": "ua/2"})
        client.get("/items/4", headers={"user-agent": ""})
    first, second = access_lines(logs)
    assert first["user_agent"] == "ua/2"
    assert second["user_agent"] == ""


def test_access_log_line(
    access_app: tuple[TestClient, Any], capture_logs: CaptureLogs, spans: Spans
) -> None:
    client, _ = access_app
    logs = capture_logs()
    client.get(
        "/items/9?password=x",
        headers={"user-agent": "ua/1", "x-request-id": "abc", "traceparent": TRACEPARENT},
    )
    (line,) = access_lines(logs)
    assert line["method"] == "GET"
    assert line["route"] == "/items/{item_id}"
    assert line["path"] == "/items/9"
    assert line["status"] == 200
    assert line["bytes"] == len(b'{"id":"9"}')
    assert line["user_agent"] == "ua/1"
    assert line["client"] == "testclient"
    assert line["request_id"] == "abc"
    assert line["trace_id"] == TRACE_ID
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert "password" not in json.dumps(line)  # no query string, no bodies
    client.get("/_pro/info")
    assert len(access_lines(logs)) == 1  # toolkit endpoints excluded by default


def test_access_log_sampling_keeps_errors_and_slow(
    access_app: tuple[TestClient, Any], capture_logs: CaptureLogs
) -> None:
    client, pro = access_app
    concern = pro.pipeline.get("access_log")
    assert isinstance(concern, AccessLogConcern)
    concern.sample_rate = 0.5
    concern._rng = _Rng([0.7, 0.2, 0.9, 0.9])
    logs = capture_logs()
    client.get("/items/1")  # 0.7 >= 0.5: dropped
    client.get("/items/2")  # 0.2 < 0.5: kept
    client.get("/fail")  # errors always kept
    assert [line["path"] for line in access_lines(logs)] == ["/items/2", "/fail"]
    assert access_lines(logs)[-1]["level"] == "ERROR"
    concern.slow_ms = 0.0  # everything is slow now: always logged, at WARNING
    client.get("/items/3")
    slow = access_lines(logs)[-1]
    assert slow["path"] == "/items/3" and slow["slow"] is True and slow["level"] == "WARNING"


def test_access_log_can_be_switched_off(spans: Spans) -> None:
    app = Starlette(routes=[])
    pro = integrate(app, observability__logging__access_log=False)
    assert pro.pipeline.get("access_log") is None


def test_access_log_rejects_bad_sample_rate() -> None:
    with pytest.raises(ValueError):
        AccessLogConcern(sample_rate=2)


def test_invalid_logging_config_names_the_field() -> None:
    from erp_professional.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"observability\.logging\.level"):
        load_config(observability__logging__level="LOUD")
    with pytest.raises(ConfigError, match="redact_patterns"):
        load_config(observability__logging__redact_patterns=["(unclosed"])


def test_access_log_respects_the_level(
    access_app: tuple[TestClient, Any], capture_logs: CaptureLogs
) -> None:
    client, _ = access_app
    logs = capture_logs(level="WARNING")
    client.get("/items/1")
    client.get("/fail")
    assert [line["status"] for line in access_lines(logs)] == [500]


def test_access_log_without_the_sink_goes_through_loguru(
    access_app: tuple[TestClient, Any],
) -> None:
    client, _ = access_app
    teardown_logging()
    seen: list[dict[str, Any]] = []
    handler = logger.add(lambda m: seen.append(m.record["extra"]), format="{message}")
    try:
        client.get("/items/5")
    finally:
        logger.remove(handler)
    (extra,) = [e for e in seen if e.get("logger") == "erp_professional.access"]
    assert extra["path"] == "/items/5" and extra["status"] == 200


def test_threads_outliving_the_request_stop_reporting_its_ids(
    capture_logs: CaptureLogs, spans: Spans
) -> None:
    log = logging.getLogger("erp_professional.test")
    release = threading.Event()
    finished = threading.Event()
    workers: list[threading.Thread] = []

    logged = threading.Event()

    def background() -> None:
        log.info("during")
        logged.set()
        release.wait(5)
        log.info("after")
        finished.set()

    async def start(request: Request) -> JSONResponse:
        worker = threading.Thread(target=background, daemon=True)
        workers.append(worker)
        worker.start()
        await asyncio.to_thread(logged.wait, 5)  # "during" is logged inside the request
        return JSONResponse({})

    app = Starlette(routes=[Route("/start", start)])
    integrate(app, observability__tracing__exporter="memory")
    logs = capture_logs()
    with TestClient(app) as client:
        client.get("/start", headers={"x-request-id": "r-bg", "traceparent": TRACEPARENT})
        release.set()
        assert finished.wait(5)
    lines = {line["message"]: line for line in logs.lines()}
    assert lines["during"]["request_id"] == "r-bg"
    assert lines["during"]["trace_id"] == TRACE_ID
    assert "request_id" not in lines["after"]
    assert "trace_id" not in lines["after"]


@settings(max_examples=100, deadline=None)
@given(now=st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False))
def test_utc_timestamp_matches_isoformat(now: float) -> None:
    from datetime import datetime

    from erp_professional.observability._logging import utc_timestamp

    text = utc_timestamp(now)
    assert len(text) == len("2026-11-27T19:46:03.172+00:00") and text.endswith("+00:00")
    parsed = datetime.fromisoformat(text).timestamp()
    assert 0 <= now - parsed < 0.001 + 1e-6


flat_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.builds(object),
)


@given(st.dictionaries(st.text(), flat_values, max_size=8))
def test_direct_lines_encode_exactly_like_loguru_lines(fields: dict[str, Any]) -> None:
    from erp_professional.observability._logging import LogSink

    stream = io.StringIO()
    sink = LogSink("json", Redactor(), stream=stream)
    sink.emit("INFO", "erp_professional.access", "GET / 200", dict(fields))
    line = stream.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    out = {"time": json.loads(line)["time"], "level": "INFO", "message": "GET / 200"}
    out["logger"] = "erp_professional.access"
    out.update(fields)
    assert line == sink.render(out, None)


optional_text = st.none() | st.text()
access_fields = st.fixed_dictionaries(
    {
        "level": st.sampled_from(["INFO", "WARNING", "ERROR"]),
        "message": st.text(),
        "request_id": st.text(),
        "method": st.text(),
        "route": optional_text,
        "path": st.text(),
        "status": st.integers(min_value=0, max_value=999),
        "duration_ms": st.floats(min_value=0, max_value=1e9).map(lambda f: round(f, 3)),
        "size": st.integers(min_value=0),
        "client": optional_text,
        "agent": optional_text,
        "user": optional_text,
        "slow": st.booleans(),
    }
)


@given(access_fields, st.booleans())
def test_access_lines_written_directly_equal_the_encoded_fields(
    given_fields: dict[str, Any], traced: bool
) -> None:
    from erp_professional.observability._access import ACCESS_LOGGER, _json_line

    f = given_fields
    trace_id, span_id = ("a" * 32, "b" * 16) if traced else (None, None)
    line = _json_line(trace_id=trace_id, span_id=span_id, **f)
    fields: dict[str, Any] = {
        "time": json.loads(line)["time"],
        "level": f["level"],
        "message": f["message"],
        "logger": ACCESS_LOGGER,
        "request_id": f["request_id"],
    }
    if traced:
        fields.update(trace_id=trace_id, span_id=span_id)
    fields.update(method=f["method"], route=f["route"], path=f["path"], status=f["status"])
    fields.update(duration_ms=f["duration_ms"], bytes=f["size"], client=f["client"])
    fields["user_agent"] = f["agent"]
    if f["user"] is not None:
        fields["user"] = f["user"]
    if f["slow"]:
        fields["slow"] = True
    assert line == json.dumps(fields, ensure_ascii=False) + "\n"
