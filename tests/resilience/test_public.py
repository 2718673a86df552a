from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import erp_professional.resilience as resilience
from erp_professional.resilience import CircuitBreaker
from erp_professional.resilience._metrics import create_instruments


def test_all_is_sorted_and_complete() -> None:
    assert resilience.__all__ == sorted(resilience.__all__)
    for name in resilience.__all__:
        assert getattr(resilience, name) is not None
    for name in (
        "circuit_breaker",
        "CircuitBreaker",
        "CircuitOpenError",
        "retry",
        "bulkhead",
        "timeout",
        "fallback",
        "Policy",
        "BulkheadFullError",
        "BreakerListener",
        "State",
        "breakers",
    ):
        assert name in resilience.__all__


def test_opentelemetry_metrics() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    create_instruments(provider.get_meter("test"))
    breaker = CircuitBreaker("otel-test", window_size=3, minimum_calls=3)
    with breaker:
        pass
    for _ in range(2):
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError
    data = reader.get_metrics_data()
    points: dict[str, list[tuple[dict[str, object], float]]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = [
                    (dict(p.attributes or {}), p.value) for p in metric.data.data_points
                ]
    calls = {
        attrs["outcome"]: value
        for attrs, value in points["erp_professional.resilience.breaker.calls"]
        if attrs["breaker"] == "otel-test"
    }
    assert calls["success"] == 1
    assert calls["failure"] == 2
    state = [
        value
        for attrs, value in points["erp_professional.resilience.breaker.state"]
        if attrs["breaker"] == "otel-test"
    ]
    assert state == [1]  # open
    provider.shutdown()
