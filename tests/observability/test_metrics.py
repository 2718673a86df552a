"""HTTP metrics, /metrics in Prometheus text, the app helper and multi-process merging."""

from __future__ import annotations

import math
import re
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from erp_professional.observability import (
    AppMetrics,
    metrics,
    render_metrics,
    start_metrics_server,
)
from erp_professional.observability._prometheus import merge, prometheus_name, render

from .apps import Driven


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse Prometheus text with prometheus_client's own parser (validates the format)."""
    result = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return result


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for (sample_name, sample_labels), v in samples(text).items():
        if sample_name == name and all(dict(sample_labels).get(k) == x for k, x in labels.items()):
            total += v
    return total


@pytest.fixture(params=["asgi", "wsgi"])
def app(request: pytest.FixtureRequest) -> Iterator[Driven]:
    driven = Driven(request.param)
    yield driven
    driven.close()


def test_http_metrics_by_route_template_and_status(app: Driven) -> None:
    before = app.get("/_pro/metrics").body.decode()
    route = "/items/{item_id}"
    wanted = {"http_route": route, "http_response_status_code": "200", "http_request_method": "GET"}
    base = value(before, "http_server_request_duration_seconds_count", **wanted)
    for item in range(5):
        assert app.get(f"/items/{item}").status == 200
    app.get("/missing/7")
    reply = app.get("/_pro/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = reply.body.decode()
    assert value(text, "http_server_request_duration_seconds_count", **wanted) - base == 5
    # Semconv buckets, cumulative, +Inf equals the count.
    assert 'le="0.005"' in text and 'le="10.0"' in text and 'le="+Inf"' in text
    assert value(
        text, "http_server_request_duration_seconds_bucket", http_route=route, le="+Inf"
    ) == value(text, "http_server_request_duration_seconds_count", http_route=route)
    assert value(text, "http_server_response_body_size_bytes_count", http_route=route) >= 5
    # Never a raw path in a label.
    assert not re.search(r'"/items/\d', text)
    assert "/missing/7" not in text
    # The request answering /metrics is in flight; the six in between are done. The gauge is
    # process-wide, so compare with the first /metrics answer instead of an absolute number.
    active = value(text, "http_server_active_requests")
    assert active >= 1
    assert active == value(before, "http_server_active_requests")


def test_server_errors_carry_error_type(app: Driven) -> None:
    app.get("/error")
    app.get("/fail")
    text = app.get("/_pro/metrics").body.decode()
    assert value(text, "http_server_request_duration_seconds_count", error_type="503") >= 1
    assert value(text, "http_server_request_duration_seconds_count", error_type="RuntimeError") >= 1


def test_other_meters_appear_on_metrics(app: Driven) -> None:
    counter = metrics.counter("orders.created", unit="{order}", description="Orders placed")
    counter.add(3, {"channel": "web"})
    hist = metrics.histogram("pricing.duration", unit="s")
    hist.record(0.02)
    gauge = metrics.gauge("cache.size", unit="{item}")
    gauge.set(17)
    text = app.get("/_pro/metrics").body.decode()
    assert value(text, "orders_created_total", channel="web") >= 3
    assert value(text, "pricing_duration_seconds_bucket", le="0.025") >= 1
    assert value(text, "cache_size") == 17
    assert "# HELP orders_created_total Orders placed" in text


def test_metrics_helper_naming_rules() -> None:
    helper = AppMetrics("tests.naming")
    assert helper.counter("jobs.done") is helper.counter("jobs.done")
    for bad in ["Jobs", "jobs..done", "/items/3", "jobs done", "", "x" * 201, "1abc"]:
        with pytest.raises(ValueError, match="lowercase dotted"):
            helper.counter(bad)
    with pytest.raises(ValueError, match="already a counter"):
        helper.histogram("jobs.done")
    with pytest.raises(ValueError, match="UCUM"):
        helper.counter("jobs.other", unit="s p a c e")
    with pytest.raises(ValueError, match="increasing"):
        helper.histogram("jobs.latency", buckets=[1, 0.5])


def test_metrics_disabled_removes_the_endpoint() -> None:
    driven = Driven("asgi", observability__metrics__enabled=False)
    try:
        assert driven.get("/_pro/metrics").status == 404
    finally:
        driven.close()


def test_standalone_metrics_server() -> None:
    metrics.counter("worker.heartbeats").add(1)
    server = start_metrics_server(0)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            body = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/plain")
        assert value(body, "worker_heartbeats_total") >= 1
    finally:
        server.close()


def test_dropped_spans_are_counted_in_metrics() -> None:
    from erp_professional._sections.observability import TracingConfig
    from erp_professional.observability import BoundedSpanProcessor
    from erp_professional.observability._tracing import _exporter

    console = _exporter(TracingConfig(exporter="console"))
    assert console is not None
    processor = BoundedSpanProcessor(console, max_queue_size=1)
    processor._drop(2, "queue_full")
    assert value(render_metrics(), "erp_professional_telemetry_spans_dropped_total") >= 2


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("http.server.active_requests", "{request}", "updown", "http_server_active_requests"),
        ("orders.created", "{order}", "counter", "orders_created_total"),
        ("requests_total", "", "counter", "requests_total"),
        ("body.size", "By", "histogram", "body_size_bytes"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("latency_seconds", "s", "histogram", "latency_seconds"),
        ("9lives", "", "gauge", "_9lives"),
    ],
)
def test_prometheus_names(name: str, unit: str, kind: str, expected: str) -> None:
    assert prometheus_name(name, unit, kind) == expected


def test_merge_adds_counters_and_histograms_keeps_live_gauges() -> None:
    def process(count: int, active: int, gauge: float) -> list[dict]:  # type: ignore[type-arg]
        return [
            {"name": "c_total", "kind": "counter", "help": "", "samples": [[[["a", "1"]], count]]},
            {"name": "active", "kind": "updown", "help": "", "samples": [[[], active]]},
            {"name": "g", "kind": "gauge", "help": "", "samples": [[[], gauge]]},
            {
                "name": "h",
                "kind": "histogram",
                "help": "",
                "samples": [
                    [[], {"bounds": [1.0], "counts": [count, 1], "sum": 2.0, "count": count + 1}]
                ],
            },
        ]

    merged = merge(
        [
            (1, True, process(2, 1, 5.0)),
            (2, True, process(3, 2, 7.0)),
            (3, False, process(10, 9, 9.0)),
        ]
    )
    text = render(merged)
    assert value(text, "c_total", a="1") == 15  # a dead worker's requests still count
    assert value(text, "active") == 3  # only live workers are in flight
    assert value(text, "g", pid="1") == 5.0 and value(text, "g", pid="2") == 7.0
    assert value(text, "g", pid="3") == 0
    assert value(text, "h_count") == 18
    assert value(text, "h_bucket", le="1.0") == 15
    assert value(text, "h_bucket", le="+Inf") == 18


label_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=30)


@settings(max_examples=100, deadline=None)
@given(label=label_text, number=st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_rendered_text_always_parses(label: str, number: float) -> None:
    family = {
        "name": "odd_values",
        "kind": "gauge",
        "help": "help with \\ and \n newline",
        "samples": [[[["weird", label]], number]],
    }
    parsed = samples(render([family]))
    ((name, labels), got) = next(iter(parsed.items()))
    assert name == "odd_values"
    assert dict(labels)["weird"] == label
    assert math.isclose(got, number, rel_tol=1e-6, abs_tol=1e-30)
