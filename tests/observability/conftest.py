"""Fixtures: in-memory spans, captured JSON log lines, a real Sentry client without network."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from erp_professional._sections.observability import LoggingConfig, TracingConfig
from erp_professional.observability import memory_exporter, setup_logging, setup_tracing
from erp_professional.observability._logging import teardown_logging

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"


class CapturingTransport(Transport):
    """A real sentry-sdk transport that keeps envelopes instead of sending them."""

    envelopes: list[Envelope] = []  # noqa: RUF012

    def capture_envelope(self, envelope: Envelope) -> None:
        CapturingTransport.envelopes.append(envelope)

    @classmethod
    def events(cls) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for envelope in cls.envelopes
            for item in envelope.items
            if item.type == "event" and item.payload.json is not None
        ]


class Spans:
    """The spans of the current in-memory exporter (integrate() may install a new one)."""

    @property
    def exporter(self) -> InMemorySpanExporter:
        exporter = memory_exporter()
        assert exporter is not None, "tracing is not set up with exporter='memory'"
        return exporter

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture
def spans() -> Iterator[Spans]:
    setup_tracing(TracingConfig(exporter="memory"))
    recorder = Spans()
    recorder.clear()
    yield recorder
    setup_tracing(TracingConfig(exporter="memory"))  # a fresh, empty exporter


class Logs:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def text(self) -> str:
        return self.stream.getvalue()

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("logger") == name]


@pytest.fixture
def capture_logs() -> Iterator[Callable[..., Logs]]:
    """Call it (after integrate(), which configures logging too) to send logs to a buffer."""

    def start(**settings: Any) -> Logs:
        stream = io.StringIO()
        setup_logging(LoggingConfig(**{"format": "json", **settings}), stream=stream)
        return Logs(stream)

    yield start
    teardown_logging()


@pytest.fixture
def sentry_events() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A real Sentry client whose transport keeps events in memory."""
    CapturingTransport.envelopes = []
    yield CapturingTransport.events
    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=1)
        client.close()
    sentry_sdk.get_global_scope().set_client(None)
    CapturingTransport.envelopes = []


SENTRY_DSN = "https://public@sentry.example.invalid/1"
