"""The HTTP server metrics concern: OTel semconv instruments, no raw paths."""

from __future__ import annotations

from typing import ClassVar

from opentelemetry import metrics as otel_metrics

from ..web import Concern, Exchange
from ._metrics import DURATION_BUCKETS
from ._paths import normalize_method

__all__ = ["MetricsConcern"]

_SIZE_BUCKETS = (0, 128, 512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
_ACTIVE = "metrics.active"


class MetricsConcern(Concern):
    """Records ``http.server.request.duration``, ``http.server.active_requests`` and the
    request/response body sizes, labelled by method, scheme, route template and status."""

    name: ClassVar[str] = "metrics"
    order: ClassVar[int] = 20

    def __init__(self, meter: otel_metrics.Meter | None = None) -> None:
        meter = meter or otel_metrics.get_meter("erp_professional.observability")
        self.duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.active = meter.create_up_down_counter(
            "http.server.active_requests",
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

    def on_request(self, exchange: Exchange) -> None:
        attributes = {
            "http.request.method": normalize_method(exchange.method),
            "url.scheme": exchange.scheme,
        }
        self.active.add(1, attributes)
        exchange.state[_ACTIVE] = attributes

    def on_complete(self, exchange: Exchange) -> None:
        active = exchange.state.pop(_ACTIVE, None)
        if active is None:
            return
        self.active.add(-1, active)
        attributes: dict[str, str | int] = dict(active)
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
        self.duration.record(exchange.duration, attributes)
        length = exchange.headers.get("content-length")
        if length is not None and length.isdigit():
            self.request_size.record(int(length), attributes)
        self.response_size.record(exchange.bytes_sent, attributes)
