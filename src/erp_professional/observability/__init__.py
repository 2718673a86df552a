"""Observability: tracing, metrics, structured logs and error reporting, one story per request.

One request leaves a SERVER span, metric points, JSON log lines and (on failure) one Sentry
event, all carrying the same trace id and request id.
"""

from ._access import AccessLogConcern
from ._app_metrics import AppMetrics, metrics
from ._decorators import SpanContextManager, span, traced
from ._endpoint import MetricsServer, metrics_endpoint, metrics_wsgi_app, start_metrics_server
from ._errors import SentryReporter, capture_exception, capture_message, setup_sentry
from ._export import BoundedSpanProcessor
from ._http_metrics import MetricsConcern
from ._logging import InterceptHandler, LogSink, logger, request_context, setup_logging
from ._metrics import DURATION_BUCKETS, render_metrics, setup_metrics
from ._propagation import extract_context, inject_trace_headers, trace_httpx, trace_requests
from ._redact import Redactor
from ._server import TracingConcern
from ._tracing import flush_tracing, memory_exporter, setup_tracing, tracer_provider

__all__ = [
    "AccessLogConcern",
    "AppMetrics",
    "BoundedSpanProcessor",
    "DURATION_BUCKETS",
    "InterceptHandler",
    "LogSink",
    "MetricsConcern",
    "MetricsServer",
    "Redactor",
    "SentryReporter",
    "SpanContextManager",
    "TracingConcern",
    "capture_exception",
    "capture_message",
    "extract_context",
    "flush_tracing",
    "inject_trace_headers",
    "logger",
    "memory_exporter",
    "metrics",
    "metrics_endpoint",
    "metrics_wsgi_app",
    "render_metrics",
    "request_context",
    "setup_logging",
    "setup_metrics",
    "setup_sentry",
    "setup_tracing",
    "span",
    "start_metrics_server",
    "trace_httpx",
    "trace_requests",
    "traced",
    "tracer_provider",
]
