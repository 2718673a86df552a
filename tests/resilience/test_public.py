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


def test_decorators_keep_name_doc_and_signature() -> None:
    import inspect

    from erp_professional.resilience import Policy, bulkhead, circuit_breaker, fallback, retry
    from erp_professional.resilience import timeout as time_limit

    def charge(order_id: str, amount_cents: int = 0) -> dict[str, str]:
        """Charge an order."""
        return {"order": order_id}

    expected = inspect.signature(charge)
    for decorate in (
        circuit_breaker,
        circuit_breaker(name="sig"),
        retry,
        retry(attempts=2),
        bulkhead,
        bulkhead(max_concurrent=2),
        time_limit,
        time_limit(1),
        fallback(None),
        Policy(retry(), circuit_breaker(name="sig2"), bulkhead()),
    ):
        wrapped = decorate(charge)
        assert wrapped.__name__ == "charge"
        assert wrapped.__doc__ == "Charge an order."
        assert inspect.signature(wrapped) == expected
        assert wrapped("A-1", 5) == {"order": "A-1"}
