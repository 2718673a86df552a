"""Metrics, spans and trace propagation of the queue (OpenTelemetry API only)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation

from ._model import QueueStats

__all__ = ["METRICS", "QueueMetrics", "current_traceparent", "job_span"]

_tracer = trace.get_tracer("erp_professional.queue")


class QueueMetrics:
    """Counters and a histogram, plus gauges read from the latest stats each queue saw."""

    def __init__(self, provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("erp_professional.queue", meter_provider=provider)
        self.processed = meter.create_counter(
            "queue.jobs.processed", unit="{job}", description="jobs completed"
        )
        self.failed = meter.create_counter(
            "queue.jobs.failed", unit="{job}", description="jobs moved to the dead-letter set"
        )
        self.retried = meter.create_counter(
            "queue.jobs.retried", unit="{job}", description="failed runs scheduled again"
        )
        self.reclaimed = meter.create_counter(
            "queue.jobs.reclaimed", unit="{job}", description="expired leases taken back"
        )
        self.duration = meter.create_histogram(
            "queue.job.duration", unit="s", description="run time of a job"
        )
        self._lock = threading.Lock()
        self._stats: dict[str, QueueStats] = {}
        meter.create_observable_gauge(
            "queue.depth", [self._depth], unit="{job}", description="jobs waiting to run"
        )
        meter.create_observable_gauge(
            "queue.oldest_waiting_age",
            [self._age],
            unit="s",
            description="age of the oldest waiting job",
        )

    def observe(self, queue: str, stats: QueueStats) -> None:
        with self._lock:
            self._stats[queue] = stats

    def _depth(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self._stats.items())
        return [Observation(s.waiting, {"queue": q}) for q, s in items]

    def _age(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            items = list(self._stats.items())
        return [Observation(s.oldest_waiting_age, {"queue": q}) for q, s in items]


METRICS = QueueMetrics()


def current_traceparent() -> str:
    """The W3C traceparent of the current span, or '' outside a trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ""  # nothing to propagate: skip the propagators (once per enqueued job)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def job_span(
    queue: str, task: str, job_id: str, traceparent: str, tracer: trace.Tracer | None = None
) -> Iterator[trace.Span]:
    """A consumer span for one run of a job, linked to the trace that enqueued it."""
    links: list[trace.Link] = []
    if traceparent:
        context = propagate.extract({"traceparent": traceparent})
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            links.append(trace.Link(parent))
    attributes = {
        "messaging.system": "erp_professional",
        "messaging.destination.name": queue,
        "messaging.message.id": job_id,
        "erp.queue.task": task,
    }
    with (tracer or _tracer).start_as_current_span(
        f"{task} process",
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
        record_exception=True,
        set_status_on_exception=True,
    ) as span:
        yield span
