"""A bounded, non-blocking span export queue: drops are counted, warnings rate-limited.

Ending a span only appends it to a bounded queue; a daemon thread exports batches. An
unreachable or slow exporter therefore never slows a request: when the queue is full new
spans are dropped, counted in ``erp_professional.telemetry.spans.dropped`` and reported by
at most one warning per ``warn_interval`` seconds.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import TraceFlags

log = logging.getLogger("erp_professional.observability")


#: Spans dropped in this process, by reason (every processor adds to the same totals).
_DROPS: dict[str, int] = {}
_registered: list[bool] = []


def _observe_drops(options: CallbackOptions) -> Iterator[Observation]:
    for reason, count in list(_DROPS.items()):
        yield Observation(count, {"reason": reason})


def _register_drop_metric() -> None:
    if _registered:
        return
    _registered.append(True)
    metrics.get_meter("erp_professional.observability").create_observable_counter(
        "erp_professional.telemetry.spans.dropped",
        callbacks=[_observe_drops],
        unit="{span}",
        description="Finished spans dropped because the export queue was full or export failed",
    )


class BoundedSpanProcessor(SpanProcessor):
    """Batches finished spans to ``exporter`` from a background thread, never blocking."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay: float = 1.0,
        warn_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_queue_size < 1 or max_export_batch_size < 1 or schedule_delay <= 0:
            raise ValueError("queue size, batch size and delay must be positive")
        self.exporter = exporter
        self.max_queue_size = max_queue_size
        self.max_export_batch_size = min(max_export_batch_size, max_queue_size)
        self.schedule_delay = schedule_delay
        self.warn_interval = warn_interval
        self._clock = clock
        self._queue: deque[ReadableSpan] = deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._stop = False
        self._thread: threading.Thread | None = None
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (method := ref()) and method())
        self._last_warning = -float("inf")
        self.dropped = 0
        self.exported = 0
        _register_drop_metric()

    # -- SpanProcessor -------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._stop:
            return
        context = span.context
        if context is None or not context.trace_flags & TraceFlags.SAMPLED:
            return
        queue = self._queue
        if len(queue) >= self.max_queue_size:
            self._drop(1, "queue_full")
            return
        queue.append(span)
        if self._thread is None:
            self._start_thread()
        if len(queue) >= self.max_export_batch_size:
            wake = self._wake
            if not wake.is_set():  # Event.set() takes a lock: once per batch is enough
                wake.set()

    def shutdown(self) -> None:
        if self._stop:
            return
        self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=self.schedule_delay + 5.0)
        self._export_all()
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = self._clock() + timeout_millis / 1000.0
        while self._queue:
            if self._clock() > deadline:
                return False
            self._export_batch()
        return True

    # -- internals -----------------------------------------------------------------------
    def _after_fork(self) -> None:
        # The worker thread does not survive fork(): the child starts its own on demand.
        self._thread = None
        self._export_lock = threading.Lock()
        self._queue.clear()

    def _start_thread(self) -> None:
        with self._export_lock:
            if self._thread is not None:
                return
            self._wake = threading.Event()
            self._thread = threading.Thread(
                target=self._run, name="erp-professional-span-export", daemon=True
            )
            # A fresh context: the thread must not keep the request that happened to start it.
            contextvars.Context().run(self._thread.start)

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.schedule_delay)
            self._wake.clear()
            self._export_all()

    def _export_all(self) -> None:
        while self._queue:
            self._export_batch()

    def _export_batch(self) -> None:
        with self._export_lock:
            queue = self._queue
            batch: list[ReadableSpan] = []
            while queue and len(batch) < self.max_export_batch_size:
                batch.append(queue.popleft())
            if not batch:
                return
            self._export(batch)

    def _export(self, batch: Sequence[ReadableSpan]) -> None:
        try:
            result = self.exporter.export(batch)
        except Exception as exc:
            self._drop(len(batch), "export_failed", exc)
            return
        if result is SpanExportResult.SUCCESS:
            self.exported += len(batch)
        else:
            self._drop(len(batch), "export_failed")

    def _drop(self, count: int, reason: str, exc: BaseException | None = None) -> None:
        # A plain count, read by the metric's callback at collection: an overloaded
        # request path must not also pay for the metric SDK on every dropped span.
        self.dropped += count
        _DROPS[reason] = _DROPS.get(reason, 0) + count
        now = self._clock()
        if now - self._last_warning >= self.warn_interval:
            self._last_warning = now
            log.warning(
                "span export: %d span(s) dropped (%s%s); %d dropped so far in this process",
                count,
                reason,
                f": {type(exc).__name__}: {exc}" if exc is not None else "",
                self.dropped,
            )
