"""``metrics``: counters, histograms and gauges for application code."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from opentelemetry import metrics as otel_metrics

from ._metrics import DURATION_BUCKETS

__all__ = ["AppMetrics", "metrics"]

_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_UNIT = re.compile(r"[A-Za-z0-9{}/%._-]*")


class AppMetrics:
    """Creates (once per name) OpenTelemetry instruments on the application meter.

    Names follow the same rules as the toolkit's: lowercase dotted words
    (``orders.created``), at most 200 characters; the unit is UCUM (``s``, ``By``,
    ``{order}``). Label values must be bounded (a route template, a status), never raw
    paths or ids. They appear on ``/metrics`` as ``orders_created_total``.
    """

    def __init__(self, meter_name: str = "erp_professional.app") -> None:
        self._meter_name = meter_name
        self._lock = threading.Lock()
        self._instruments: dict[str, tuple[str, object]] = {}

    def _meter(self) -> otel_metrics.Meter:
        return otel_metrics.get_meter(self._meter_name)

    def _get(self, kind: str, name: str, unit: str, description: str, **extra: object) -> object:
        if not isinstance(name, str) or len(name) > 200 or not _NAME.fullmatch(name):
            raise ValueError(
                f"metric name {name!r} must be lowercase dotted words such as 'orders.created'"
            )
        if not _UNIT.fullmatch(unit):
            raise ValueError(f"metric unit {unit!r} must be a UCUM unit such as 's' or '{{item}}'")
        with self._lock:
            known = self._instruments.get(name)
            if known is not None:
                if known[0] != kind:
                    raise ValueError(f"metric {name!r} is already a {known[0]}, not a {kind}")
                return known[1]
            meter = self._meter()
            factory = getattr(meter, f"create_{kind}")
            instrument: object = factory(name, unit=unit, description=description, **extra)
            self._instruments[name] = (kind, instrument)
            return instrument

    def counter(self, name: str, *, unit: str = "", description: str = "") -> otel_metrics.Counter:
        """A monotonic counter: ``metrics.counter("orders.created").add(1, {"channel": "web"})``."""
        return self._get("counter", name, unit, description)  # type: ignore[return-value]

    def up_down_counter(
        self, name: str, *, unit: str = "", description: str = ""
    ) -> otel_metrics.UpDownCounter:
        """A sum that goes up and down (queue length, open connections)."""
        return self._get("up_down_counter", name, unit, description)  # type: ignore[return-value]

    def histogram(
        self,
        name: str,
        *,
        unit: str = "",
        description: str = "",
        buckets: Sequence[float] | None = None,
    ) -> otel_metrics.Histogram:
        """A distribution; ``unit="s"`` gets the HTTP duration buckets unless ``buckets``."""
        if buckets is not None:
            bounds = [float(b) for b in buckets]
            if bounds != sorted(set(bounds)):
                raise ValueError("histogram buckets must be strictly increasing")
            return self._get(  # type: ignore[return-value]
                "histogram", name, unit, description, explicit_bucket_boundaries_advisory=bounds
            )
        if unit == "s":
            return self._get(  # type: ignore[return-value]
                "histogram",
                name,
                unit,
                description,
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
            )
        return self._get("histogram", name, unit, description)  # type: ignore[return-value]

    def gauge(self, name: str, *, unit: str = "", description: str = "") -> otel_metrics._Gauge:
        """A last-value gauge: ``metrics.gauge("cache.size", unit="{item}").set(42)``."""
        return self._get("gauge", name, unit, description)  # type: ignore[return-value]


metrics = AppMetrics()
