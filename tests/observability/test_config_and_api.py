"""The public surface of the capability and its configuration section."""

from __future__ import annotations

import pytest

import erp_professional.observability as observability
from erp_professional.config import ConfigError, load_config


def test_all_is_sorted_and_importable() -> None:
    exported = list(observability.__all__)
    assert exported == sorted(exported)
    for name in exported:
        assert getattr(observability, name) is not None


def test_environment_variables_configure_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PRO_OBSERVABILITY__TRACING__EXPORTER", "otlp-grpc")
    monkeypatch.setenv("ERP_PRO_OBSERVABILITY__TRACING__SAMPLE_RATIO", "0.25")
    monkeypatch.setenv("ERP_PRO_OBSERVABILITY__LOGGING__LEVEL", "debug")
    monkeypatch.setenv("ERP_PRO_OBSERVABILITY__SENTRY__DSN", "https://k@sentry.example.invalid/1")
    cfg = load_config().observability
    assert cfg.tracing.exporter == "otlp-grpc"
    assert cfg.tracing.sample_ratio == 0.25
    assert cfg.logging.level == "DEBUG"
    assert cfg.sentry.dsn is not None
    assert "k@sentry" not in repr(cfg.sentry)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("observability__tracing__exporter", "jaeger", "observability.tracing.exporter"),
        ("observability__tracing__sample_ratio", 1.5, "observability.tracing.sample_ratio"),
        ("observability__tracing__excluded_paths", ["health"], "excluded_paths"),
        ("observability__metrics__multiprocess_interval", 0, "multiprocess_interval"),
        ("observability__logging__access_log_sample_rate", -0.1, "access_log_sample_rate"),
        ("observability__logging__format", "xml", "observability.logging.format"),
        ("observability__sentry__sample_rate", 2, "observability.sentry.sample_rate"),
        ("observability__tracing__unknown", 1, "unknown"),
    ],
)
def test_bad_values_fail_naming_the_field(key: str, value: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(**{key: value})
    assert field in str(info.value)


def test_observability_can_be_switched_off() -> None:
    from starlette.applications import Starlette

    from erp_professional import integrate

    pro = integrate(Starlette(), observability__enabled=False)
    names = {c.name for c in pro.pipeline.concerns}
    assert not names & {"tracing", "metrics", "access_log"}
    assert "/metrics" not in pro.pipeline.endpoints
