"""Spans linked to the enqueuing trace, metrics and log lines of a worker."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from erp_professional.config import QueueConfig
from erp_professional.queue import JobStatus, Queue, Worker

pytestmark = pytest.mark.anyio


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[object]]:
    data = reader.get_metrics_data()
    out: dict[str, list[object]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


async def test_job_span_links_to_the_enqueuing_trace_and_metrics_count(
    queue_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    q = Queue(queue_url, "otel", config=QueueConfig(retries=1, backoff=0.01))

    @q.task(name="invoice.email")
    def send(invoice: int) -> int:
        return invoice

    @q.task(name="invoice.broken", retries=0)
    def broken() -> None:
        raise ValueError("no address")

    with tracer_provider.get_tracer("test").start_as_current_span("POST /invoices") as parent:
        job = send.enqueue(invoice=7)
        bad = broken.enqueue()
    assert job.info.traceparent.split("-")[1] == format(parent.get_span_context().trace_id, "032x")
    caplog.set_level(logging.DEBUG, logger="erp_professional.queue")
    async with Worker(q, meter_provider=meter_provider, tracer_provider=tracer_provider):
        for _ in range(500):
            if job.refresh().status.finished and bad.refresh().status.finished:
                break
            await asyncio.sleep(0.01)
    assert job.status is JobStatus.COMPLETED and bad.status is JobStatus.FAILED

    spans = {s.name: s for s in exporter.get_finished_spans()}
    span = spans["invoice.email process"]
    assert span.attributes["messaging.message.id"] == job.id
    assert [link.context.trace_id for link in span.links] == [parent.get_span_context().trace_id]
    assert span.context.trace_id != parent.get_span_context().trace_id
    assert spans["invoice.broken process"].status.status_code.name == "ERROR"

    points = metric_points(reader)
    assert sum(p.value for p in points["queue.jobs.processed"]) == 1
    assert sum(p.value for p in points["queue.jobs.failed"]) == 1
    assert sum(p.count for p in points["queue.job.duration"]) == 2
    assert {p.attributes["queue"] for p in points["queue.depth"]} >= {"otel"}
    assert "queue.oldest_waiting_age" in points
    assert any(
        job.id in r.getMessage() and "invoice.email" in r.getMessage() for r in caplog.records
    )
    assert any(
        bad.id in r.getMessage() and "no address" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )
