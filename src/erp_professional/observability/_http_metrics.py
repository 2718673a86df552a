"""The HTTP server metrics concern: OTel semconv instruments, no raw paths."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import ClassVar

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ..web import Concern, Exchange
from ._metrics import DURATION_BUCKETS
from ._paths import normalize_method

__all__ = ["MetricsConcern"]

_SIZE_BUCKETS = (0, 128, 512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
_ACTIVE = "metrics.active"


class _Instruments:
    """The HTTP server instruments, created once per process (every concern shares them).

    Active requests are plain integer counts read by an observable up-down counter at
    collection time, so the request path pays for a dict update, not an SDK measurement.
    """

    def __init__(self, meter: otel_metrics.Meter) -> None:
        self.lock = threading.Lock()
        self.active_counts: dict[tuple[str, str], int] = {}
        self.duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        meter.create_observable_up_down_counter(
            "http.server.active_requests",
            callbacks=[self.observe_active],
            unit="{request}",
            description="Number of active HTTP server requests.",
        )
        self.request_size = meter.create_histogram(
            "http.server.request.body.size",
            unit="By",
            description="Size of HTTP server request bodies (from Content-Length).",
            explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
        )
        self.response_size = meter.create_histogram(
            "http.server.response.body.size",
            unit="By",
            description="Size of HTTP server response bodies as sent.",
            explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
        )

    def observe_active(self, options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            items = list(self.active_counts.items())
        return [
            Observation(count, {"http.request.method": method, "url.scheme": scheme})
            for (method, scheme), count in items
        ]


_instruments: _Instruments | None = None
_instruments_lock = threading.Lock()


def _shared_instruments() -> _Instruments:
    global _instruments
    with _instruments_lock:
        if _instruments is None:
            _instruments = _Instruments(otel_metrics.get_meter("erp_professional.observability"))
        return _instruments


class MetricsConcern(Concern):
    """Records ``http.server.request.duration``, ``http.server.active_requests`` and the
    request/response body sizes, labelled by method, scheme, route template and status."""

    name: ClassVar[str] = "metrics"
    order: ClassVar[int] = 20

    def __init__(self) -> None:
        self.instruments = _shared_instruments()

    def on_request(self, exchange: Exchange) -> None:
        key = (normalize_method(exchange.method), exchange.scheme)
        instruments = self.instruments
        with instruments.lock:
            instruments.active_counts[key] = instruments.active_counts.get(key, 0) + 1
        exchange.state[_ACTIVE] = key

    def on_complete(self, exchange: Exchange) -> None:
        key = exchange.state.pop(_ACTIVE, None)
        if key is None:
            return
        instruments = self.instruments
        with instruments.lock:
            instruments.active_counts[key] -= 1
        attributes: dict[str, str | int] = {"http.request.method": key[0], "url.scheme": key[1]}
        status = exchange.status
        if status is not None:
            attributes["http.response.status_code"] = status
        route = exchange.route
        if route is not None:
            attributes["http.route"] = route
        error = exchange.error
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
        elif status is None or status >= 500:
            attributes["error.type"] = str(status) if status is not None else "incomplete"
        instruments.duration.record(exchange.duration, attributes)
        length = exchange.headers.get("content-length")
        if length is not None and length.isdigit():
            instruments.request_size.record(int(length), attributes)
        instruments.response_size.record(exchange.bytes_sent, attributes)
