"""OpenTelemetry metrics as Prometheus text (exposition format 0.0.4), per process or merged.

A *family* is a plain, JSON-ready dict so that worker processes can hand theirs to the
process answering ``/metrics`` through files (see ``_multiprocess``)::

    {"name": "http_server_request_duration_seconds", "kind": "histogram", "help": "...",
     "samples": [[[["http_request_method", "GET"]], {"bounds": [...], "counts": [...],
                  "sum": 0.1, "count": 3}]]}

``kind`` is ``counter`` (monotonic sum), ``updown`` (non-monotonic sum), ``gauge`` (last
value) or ``histogram``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)

__all__ = ["CONTENT_TYPE", "families_from", "merge", "prometheus_name", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Family = dict[str, Any]
Labels = tuple[tuple[str, str], ...]

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_UNITS = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "%": "percent",
}


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """``http.server.request.duration`` + ``s`` -> ``http_server_request_duration_seconds``;
    counters end in ``_total``."""
    base = _INVALID.sub("_", name)
    if base and base[0].isdigit():
        base = "_" + base
    suffix = "" if unit.startswith("{") else _UNITS.get(unit, _INVALID.sub("_", unit))
    if unit == "1":
        suffix = "ratio" if kind == "gauge" else ""
    if kind == "counter" and base.endswith("_total"):
        base = base[: -len("_total")]
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    if kind == "counter":
        base += "_total"
    return base


def _label_name(key: str) -> str:
    name = _INVALID_LABEL.sub("_", key)
    return "_" + name if name[:1].isdigit() else name


def _labels(attributes: Any) -> list[list[str]]:
    if not attributes:
        return []
    return sorted([_label_name(str(k)), _label_value(v)] for k, v in attributes.items())


def _label_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def families_from(data: MetricsData | None) -> list[Family]:
    """Flatten the SDK's collected data into families (cumulative values)."""
    families: dict[str, Family] = {}
    if data is None:
        return []
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                point_data = metric.data
                if isinstance(point_data, Histogram):
                    kind = "histogram"
                elif isinstance(point_data, Sum):
                    kind = "counter" if point_data.is_monotonic else "updown"
                elif isinstance(point_data, Gauge):
                    kind = "gauge"
                else:  # exponential histograms have no Prometheus text form
                    continue
                name = prometheus_name(metric.name, metric.unit or "", kind)
                family = families.setdefault(
                    name,
                    {"name": name, "kind": kind, "help": metric.description or "", "samples": []},
                )
                if family["kind"] != kind:
                    continue
                for point in point_data.data_points:
                    labels = _labels(point.attributes)
                    if kind == "histogram":
                        value: Any = {
                            "bounds": list(point.explicit_bounds),  # type: ignore[union-attr]
                            "counts": list(point.bucket_counts),  # type: ignore[union-attr]
                            "sum": point.sum,  # type: ignore[union-attr]
                            "count": point.count,  # type: ignore[union-attr]
                        }
                    else:
                        value = point.value  # type: ignore[union-attr]
                    family["samples"].append([labels, value])
    return list(families.values())


def _key(labels: Iterable[Iterable[str]]) -> Labels:
    return tuple((str(k), str(v)) for k, v in labels)


def merge(processes: Iterable[tuple[int, bool, list[Family]]]) -> list[Family]:
    """Merge the families of several processes: ``(pid, alive, families)``.

    Counters and histograms add up over every process that ever ran (a restarted worker's
    requests still count); up-down sums add up over live processes; gauges keep one
    series per live process with a ``pid`` label.
    """
    merged: dict[str, Family] = {}
    values: dict[str, dict[Labels, Any]] = {}
    for pid, alive, families in processes:
        for family in families:
            kind = family["kind"]
            if kind in ("updown", "gauge") and not alive:
                continue
            name = family["name"]
            target = merged.get(name)
            if target is None:
                target = merged[name] = {**family, "samples": []}
                values[name] = {}
            elif target["kind"] != kind:
                continue
            series = values[name]
            for labels, value in family["samples"]:
                key = _key(labels)
                if kind == "gauge":
                    key = (*key, ("pid", str(pid)))
                    series[key] = value
                elif kind == "histogram":
                    series[key] = _add_histogram(series.get(key), value)
                else:
                    series[key] = series.get(key, 0) + value
    for name, family in merged.items():
        family["samples"] = [[list(map(list, k)), v] for k, v in values[name].items()]
    return list(merged.values())


def _add_histogram(total: dict[str, Any] | None, value: dict[str, Any]) -> dict[str, Any]:
    if total is None:
        return {**value, "counts": list(value["counts"])}
    if list(total["bounds"]) != list(value["bounds"]):
        # Different bucket layouts cannot be added bucket by bucket: keep sum and count.
        return {
            **total,
            "sum": total["sum"] + value["sum"],
            "count": total["count"] + value["count"],
        }
    return {
        "bounds": total["bounds"],
        "counts": [a + b for a, b in zip(total["counts"], value["counts"], strict=True)],
        "sum": total["sum"] + value["sum"],
        "count": total["count"] + value["count"],
    }


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(labels: Iterable[Iterable[str]], extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """Prometheus text exposition format 0.0.4."""
    out: list[str] = []
    for family in sorted(families, key=lambda f: f["name"]):
        name, kind = family["name"], family["kind"]
        text_type = {"counter": "counter", "histogram": "histogram"}.get(kind, "gauge")
        help_text = family["help"].replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {text_type}")
        for labels, value in sorted(family["samples"], key=lambda s: s[0]):
            if kind != "histogram":
                out.append(f"{name}{_format_labels(labels)} {_number(value)}")
                continue
            cumulative = 0
            bounds = list(value["bounds"])
            for bound, count in zip([*bounds, math.inf], value["counts"], strict=False):
                cumulative += count
                le = f'le="{_number(float(bound))}"'
                out.append(f"{name}_bucket{_format_labels(labels, le)} {cumulative}")
            out.append(f"{name}_sum{_format_labels(labels)} {_number(value['sum'])}")
            out.append(f"{name}_count{_format_labels(labels)} {value['count']}")
    return "\n".join(out) + "\n" if out else ""
