"""The HTTP server metrics concern: OTel semconv names, units and buckets, no raw paths.

``http.server.request.duration``, ``http.server.active_requests`` and the request and
response body sizes are aggregated here, in one dict update per request under a lock,
instead of through the OpenTelemetry SDK's per-measurement pipeline (several times
slower on the request path). They are exposed next to the SDK's metrics on ``/metrics``
with the names, units, labels and bucket boundaries of the semantic conventions, and take
part in the multi-process merge like every other metric.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any, ClassVar

from ..web import Concern, Exchange
from ._metrics import DURATION_BUCKETS, add_producer
from ._paths import normalize_method
from ._prometheus import Family

__all__ = ["HttpServerMetrics", "MetricsConcern"]

SIZE_BUCKETS = (0, 128, 512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
_ACTIVE = "metrics.active"
Labels = tuple[tuple[str, str], ...]


class _Histogram:
    __slots__ = ("count", "counts", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)
        self.sum = 0.0
        self.count = 0


class HttpServerMetrics:
    """Process-wide aggregation of the HTTP server metrics (cumulative)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[Labels, int] = {}
        self.duration: dict[Labels, _Histogram] = {}
        self.request_size: dict[Labels, _Histogram] = {}
        self.response_size: dict[Labels, _Histogram] = {}

    def started(self, key: Labels) -> None:
        with self.lock:
            self.active[key] = self.active.get(key, 0) + 1

    def finished(
        self,
        active_key: Labels,
        key: Labels,
        duration: float,
        request_size: int | None,
        response_size: int,
    ) -> None:
        d_index = bisect_left(DURATION_BUCKETS, duration)
        r_index = bisect_left(SIZE_BUCKETS, response_size)
        with self.lock:
            self.active[active_key] -= 1
            hist = self.duration.get(key)
            if hist is None:
                hist = self.duration[key] = _Histogram(len(DURATION_BUCKETS))
            hist.counts[d_index] += 1
            hist.sum += duration
            hist.count += 1
            hist = self.response_size.get(key)
            if hist is None:
                hist = self.response_size[key] = _Histogram(len(SIZE_BUCKETS))
            hist.counts[r_index] += 1
            hist.sum += response_size
            hist.count += 1
            if request_size is not None:
                hist = self.request_size.get(key)
                if hist is None:
                    hist = self.request_size[key] = _Histogram(len(SIZE_BUCKETS))
                hist.counts[bisect_left(SIZE_BUCKETS, request_size)] += 1
                hist.sum += request_size
                hist.count += 1

    def families(self) -> list[Family]:
        """The four metrics as Prometheus families (see ``_prometheus``)."""
        with self.lock:
            active = list(self.active.items())
            histograms = [
                (
                    name,
                    help_text,
                    bounds,
                    [(k, list(h.counts), h.sum, h.count) for k, h in series],
                )
                for name, help_text, bounds, series in (
                    (
                        "http_server_request_duration_seconds",
                        "Duration of HTTP server requests.",
                        DURATION_BUCKETS,
                        list(self.duration.items()),
                    ),
                    (
                        "http_server_request_body_size_bytes",
                        "Size of HTTP server request bodies (from Content-Length).",
                        SIZE_BUCKETS,
                        list(self.request_size.items()),
                    ),
                    (
                        "http_server_response_body_size_bytes",
                        "Size of HTTP server response bodies as sent.",
                        SIZE_BUCKETS,
                        list(self.response_size.items()),
                    ),
                )
            ]
        families: list[Family] = [
            {
                "name": "http_server_active_requests",
                "kind": "updown",
                "help": "Number of active HTTP server requests.",
                "samples": [[[list(p) for p in key], count] for key, count in active],
            }
        ]
        for name, help_text, bounds, rows in histograms:
            samples: list[Any] = [
                [
                    [list(p) for p in key],
                    {"bounds": list(bounds), "counts": counts, "sum": total, "count": count},
                ]
                for key, counts, total, count in rows
            ]
            families.append(
                {"name": name, "kind": "histogram", "help": help_text, "samples": samples}
            )
        return families


_shared: HttpServerMetrics | None = None
_shared_lock = threading.Lock()


def shared_http_metrics() -> HttpServerMetrics:
    """The process's HTTP server metrics, registered with ``/metrics`` on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = HttpServerMetrics()
            add_producer(_shared.families)
        return _shared


class MetricsConcern(Concern):
    """Records the HTTP server metrics labelled by method, scheme, route template, status
    code and (for failures) error type."""

    name: ClassVar[str] = "metrics"
    order: ClassVar[int] = 20

    def __init__(self) -> None:
        self.metrics = shared_http_metrics()
        # Label tuples repeat request after request: build each one once (bounded).
        self._keys: dict[tuple[Labels, int | None, str | None, str | None], Labels] = {}

    def on_request(self, exchange: Exchange) -> None:
        key: Labels = (
            ("http_request_method", normalize_method(exchange.method)),
            ("url_scheme", exchange.scheme),
        )
        self.metrics.started(key)
        exchange.state[_ACTIVE] = key

    def on_complete(self, exchange: Exchange) -> None:
        active_key: Labels | None = exchange.state.pop(_ACTIVE, None)
        if active_key is None:
            return
        status = exchange.status
        error = exchange.error
        if error is not None:
            error_type: str | None = type(error).__qualname__
        elif status is None or status >= 500:
            error_type = str(status) if status is not None else "incomplete"
        else:
            error_type = None
        route = exchange.route
        cache_key = (active_key, status, route, error_type)
        key = self._keys.get(cache_key)
        if key is None:
            key = _labels(active_key, status, route, error_type)
            if len(self._keys) < 4096:
                self._keys[cache_key] = key
        length = exchange.headers.get("content-length")
        self.metrics.finished(
            active_key,
            key,
            exchange.duration,
            int(length) if length is not None and length.isdigit() else None,
            exchange.bytes_sent,
        )


def _labels(active: Labels, status: int | None, route: str | None, error: str | None) -> Labels:
    labels = list(active)
    if error is not None:
        labels.append(("error_type", error))
    if status is not None:
        labels.append(("http_response_status_code", str(status)))
    if route is not None:
        labels.append(("http_route", route))
    labels.sort()
    return tuple(labels)
