"""``install(pro)``: switch observability on for a ``Professional`` from its config."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sentry_sdk

from ._access import AccessLogConcern
from ._endpoint import metrics_endpoint
from ._errors import SentryReporter, setup_sentry
from ._http_metrics import MetricsConcern
from ._logging import RequestEndConcern, setup_logging
from ._metrics import setup_metrics
from ._paths import path_matcher
from ._redact import Redactor
from ._server import TracingConcern
from ._tracing import flush_tracing, setup_tracing

if TYPE_CHECKING:
    from ..hub import Professional

__all__ = ["install"]


def install(pro: Professional) -> None:
    """Logging, tracing, metrics (+ ``/metrics``), the access log and Sentry reporting,
    each as configured in ``pro.config.observability``."""
    config = pro.config
    obs = config.observability
    if not obs.enabled:
        return
    prefix = pro.pipeline.prefix
    if obs.logging.enabled:
        setup_logging(obs.logging)
        pro.add_concern(RequestEndConcern())
    if obs.tracing.enabled or obs.metrics.enabled:
        _quiet_native_telemetry(pro.app, obs.tracing.enabled, obs.metrics.enabled)
    if obs.tracing.enabled:
        setup_tracing(config)
        pro.add_concern(TracingConcern(path_matcher(obs.tracing.excluded_paths, prefix)))
        pro.on_shutdown(flush_tracing)
    if obs.metrics.enabled:
        setup = setup_metrics(config)
        pro.add_concern(MetricsConcern())
        if obs.metrics.endpoint:
            pro.add_endpoint("/metrics", metrics_endpoint)
        pro.on_shutdown(setup.flush)
    if obs.logging.enabled and obs.logging.access_log:
        pro.add_concern(
            AccessLogConcern(
                sample_rate=obs.logging.access_log_sample_rate,
                slow_ms=obs.logging.slow_request_ms,
                excluded=path_matcher(obs.logging.access_log_excluded_paths, prefix),
                redactor=Redactor(obs.logging.redact_keys, obs.logging.redact_patterns),
            )
        )
    if obs.sentry.dsn is not None:
        setup_sentry(config)
    if obs.sentry.report_errors:
        # First in line: the error log line of the pipeline must not become the event.
        pro.pipeline.error_reporters.insert(0, SentryReporter())
        pro.on_shutdown(_flush_sentry)


def _flush_sentry() -> None:
    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=2.0)


def _quiet_native_telemetry(app: object, tracing: bool, metrics: bool) -> None:
    """FastAPI's built-in telemetry would record a second server span and the same HTTP
    metrics again around ours: switch those two parts off (its other settings stay)."""
    telemetry = getattr(app, "_telemetry", None)
    if isinstance(telemetry, dict) and "tracing" in telemetry and "metrics" in telemetry:
        if tracing:
            telemetry["tracing"] = False
        if metrics:
            telemetry["metrics"] = False
