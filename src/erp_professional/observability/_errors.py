"""Sentry: ``setup_sentry``, the error reporter of the request lifecycle, capture helpers.

Without a DSN nothing is initialised and every helper is a no-op. Each unhandled
exception is reported once: the reporter marks the exception, and an event processor drops
a second event for a marked exception (for example from the framework's own Sentry
integration, or from the logging integration seeing the error log line). Every event,
whoever captures it, gets ``request_id``/``trace_id``/``span_id`` tags from the current
request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Literal

import sentry_sdk
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.types import Event, Hint

from .._sections.observability import ObservabilityConfig, SentryConfig
from ..config import ProfessionalConfig, ServiceConfig
from ..web import Exchange, current_exchange
from ._logging import request_context, user_of
from ._redact import MASK, SENSITIVE_KEYS, Redactor

__all__ = ["SentryReporter", "capture_exception", "capture_message", "setup_sentry"]

log = logging.getLogger("erp_professional.observability")

_MARK = "__erp_professional_sentry__"
#: loguru record names of lines this package writes: the access log (its 5xx line is not
#: the error report: the reporter sends that once) and stdlib records re-emitted by the
#: interception handler (sentry's logging integration already reports the original record).
_OWN_LOGGERS = ("erp_professional.observability._access", "erp_professional.observability._logging")
_ours: ContextVar[bool] = ContextVar("erp_professional_sentry_capture", default=False)
_processor_installed = False
_redactor = Redactor()


def _mark(exc: BaseException) -> None:
    try:
        setattr(exc, _MARK, True)
    except (AttributeError, TypeError):
        log.debug("cannot mark %s as reported", type(exc).__qualname__)


def _event_processor(event: Event, hint: Hint) -> Event | None:
    """Tags every event with the request's ids; drops a second event for one exception."""
    exc_info = hint.get("exc_info") if hint else None
    exc = exc_info[1] if exc_info else None
    if not _ours.get() and event.get("logger") in _OWN_LOGGERS:
        return None  # see _install_processor
    if exc is not None:
        if _ours.get():
            _mark(exc)
        elif getattr(exc, _MARK, False):
            return None
        else:
            _mark(exc)
    context = request_context()
    if context:
        tags = event.setdefault("tags", {})
        for key in ("request_id", "trace_id", "span_id"):
            if key in context:
                tags.setdefault(key, context[key])
        trace_id = context.get("trace_id")
        if trace_id is not None:
            # The OpenTelemetry trace is the one logs and spans carry: link the event to it.
            contexts: Any = event.setdefault("contexts", {})
            trace_context = contexts.setdefault("trace", {})
            trace_context["trace_id"] = trace_id
            trace_context["span_id"] = context.get("span_id", "")
            trace_context.pop("parent_span_id", None)
    return event


def _install_processor() -> None:
    global _processor_installed
    if not _processor_installed:
        sentry_sdk.scope.add_global_event_processor(_event_processor)
        for name in _OWN_LOGGERS:
            ignore_logger(name)
        _processor_installed = True


def _scrub_text(event: Event, hint: Hint) -> Event:
    """Redact secrets in messages and exception values with the redaction list."""
    redactor = _redactor
    message = event.get("message")
    if isinstance(message, str):
        event["message"] = redactor.text(message)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        for key in ("message", "formatted"):
            if isinstance(logentry.get(key), str):
                logentry[key] = redactor.text(logentry[key])
    for exc in (event.get("exception") or {}).get("values") or ():
        if isinstance(exc.get("value"), str):
            exc["value"] = redactor.text(exc["value"])
        for frame in (exc.get("stacktrace") or {}).get("frames") or ():
            if isinstance(frame.get("vars"), dict):
                frame["vars"] = _scrub_vars(frame["vars"], redactor)
            for key in ("pre_context", "post_context"):
                if isinstance(frame.get(key), list):
                    frame[key] = [redactor.text(str(line)) for line in frame[key]]
            if isinstance(frame.get("context_line"), str):
                frame["context_line"] = redactor.text(frame["context_line"])
    breadcrumbs: Any = event.get("breadcrumbs")
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in values if isinstance(values, list) else ():
        if isinstance(crumb, dict):
            if isinstance(crumb.get("message"), str):
                crumb["message"] = redactor.text(crumb["message"])
            if isinstance(crumb.get("data"), dict):
                crumb["data"] = redactor.mapping(crumb["data"])
    request: Any = event.get("request")
    if isinstance(request, dict):
        for key in ("headers", "cookies", "data", "env"):
            if isinstance(request.get(key), dict):
                request[key] = redactor.mapping(request[key])
        if isinstance(request.get("query_string"), str):
            request["query_string"] = redactor.text(request["query_string"])
    return event


def _scrub_vars(value: Any, redactor: Redactor, depth: int = 0) -> Any:
    """Frame variables: secret keys, secret strings, and ``(name, value)`` header pairs
    such as ``[b'authorization', b'Bearer ...']`` in an ASGI scope."""
    if depth > 10:
        return value
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {
            k: MASK
            if isinstance(k, str) and redactor.is_sensitive_key(k)
            else _scrub_vars(v, redactor, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if len(value) == 2 and all(isinstance(v, str) for v in value):
            name = value[0].strip("b'\"")
            if redactor.is_sensitive_key(name):
                return [value[0], MASK]
        return [_scrub_vars(v, redactor, depth + 1) for v in value]
    return value


def setup_sentry(
    dsn: str | SentryConfig | ObservabilityConfig | ProfessionalConfig | None = None,
    *,
    environment: str | None = None,
    release: str | None = None,
    sample_rate: float = 1.0,
    traces_sample_rate: float | None = None,
    send_default_pii: bool = False,
    redact_keys: Iterable[str] = (),
    redact_patterns: Iterable[str] = (),
    before_send: Callable[[Event, Hint], Event | None] | None = None,
    integrations: Sequence[Any] = (),
    **options: Any,
) -> bool:
    """Initialise sentry-sdk with scrubbing on; returns ``False`` (and does nothing) without
    a DSN.

    ``dsn`` may be a DSN string or a config (``ProfessionalConfig`` fills environment and
    release from the service). Scrubbing: sentry-sdk's ``EventScrubber`` with its default
    denylist plus ours (authorization, cookies, passwords, tokens, API keys, ...), recursive,
    and our text redaction over messages and exception values. Extra ``options`` go to
    ``sentry_sdk.init`` (``transport=`` in tests).
    """
    global _redactor
    service: ServiceConfig | None = None
    if isinstance(dsn, ProfessionalConfig):
        service = dsn.service
        logging_cfg = dsn.observability.logging
        redact_keys = [*redact_keys, *logging_cfg.redact_keys]
        redact_patterns = [*redact_patterns, *logging_cfg.redact_patterns]
        dsn = dsn.observability.sentry
    elif isinstance(dsn, ObservabilityConfig):
        redact_keys = [*redact_keys, *dsn.logging.redact_keys]
        redact_patterns = [*redact_patterns, *dsn.logging.redact_patterns]
        dsn = dsn.sentry
    if isinstance(dsn, SentryConfig):
        cfg = dsn
        dsn = cfg.dsn.get_secret_value() if cfg.dsn is not None else None
        environment = environment or cfg.environment
        release = release or cfg.release
        sample_rate = cfg.sample_rate
        traces_sample_rate = cfg.traces_sample_rate
        send_default_pii = cfg.send_default_pii
    if not dsn:
        return False
    if service is not None:
        environment = environment or service.environment
        release = release or f"{service.name}@{service.version}"
    _redactor = Redactor(redact_keys, redact_patterns)
    denylist = sorted({*DEFAULT_DENYLIST, *SENSITIVE_KEYS, *_redactor.keys})
    user_before_send = before_send

    def chained_before_send(event: Event, hint: Hint) -> Event | None:
        event = _scrub_text(event, hint)
        return user_before_send(event, hint) if user_before_send is not None else event

    if send_default_pii:
        # Only when asked for: sentry-sdk's default (unset) already means "no PII".
        options["send_default_pii"] = True
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        sample_rate=sample_rate,
        traces_sample_rate=traces_sample_rate,
        event_scrubber=EventScrubber(
            denylist=denylist, recursive=True, send_default_pii=send_default_pii
        ),
        before_send=chained_before_send,
        integrations=list(integrations),
        **options,
    )
    _install_processor()
    return True


def _request_data(exchange: Exchange) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in exchange.headers.items():
        headers[name] = value
    url = f"{exchange.scheme}://{exchange.headers.get('host') or 'localhost'}"
    url += exchange.root_path + exchange.path
    data: dict[str, Any] = {
        "method": exchange.method,
        "url": url,
        "headers": _redactor.mapping(headers),
    }
    if exchange.query_string:
        data["query_string"] = _redactor.text(exchange.query_string)
    return data


class SentryReporter:
    """An error reporter for ``pipeline.error_reporters``: one Sentry event per unhandled
    exception, with request context, request id and trace id tags, and the user if known."""

    def __call__(self, exchange: Exchange, exc: BaseException) -> None:
        if sentry_sdk.get_client().is_active() is False:
            return
        if getattr(exc, _MARK, False):
            return  # already captured by the framework's Sentry integration
        _install_processor()
        with sentry_sdk.new_scope() as scope:
            request = _request_data(exchange)
            scope.add_event_processor(lambda event, hint: _with_request(event, request))
            if exchange.request_id:
                scope.set_tag("request_id", exchange.request_id)
            route = exchange.route
            if route is not None:
                scope.set_tag("http.route", route)
                scope.set_transaction_name(f"{exchange.method} {route}")
            user = user_of(exchange.principal)
            if user is not None:
                scope.set_user({"id": user})
            token = _ours.set(True)
            try:
                sentry_sdk.capture_exception(exc)
            finally:
                _ours.reset(token)
            _mark(exc)


def _with_request(event: Event, request: Mapping[str, Any]) -> Event | None:
    event.setdefault("request", dict(request))
    return event


def capture_exception(error: BaseException | None = None, **tags: str) -> str | None:
    """Report ``error`` (default: the one being handled) with the request's ids as tags.

    Returns the event id, or ``None`` when Sentry is not set up or the event was dropped.
    """
    if not sentry_sdk.get_client().is_active():
        return None
    _install_processor()
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, value)
        exchange = current_exchange()
        if exchange is not None:
            request = _request_data(exchange)
            scope.add_event_processor(lambda event, hint: _with_request(event, request))
        token = _ours.set(True)
        try:
            return sentry_sdk.capture_exception(error)
        finally:
            _ours.reset(token)


def capture_message(
    message: str,
    level: Literal["fatal", "critical", "error", "warning", "info", "debug"] = "info",
    **tags: str,
) -> str | None:
    """Send a message event (redacted) with the request's ids as tags; ``None`` when off."""
    if not sentry_sdk.get_client().is_active():
        return None
    _install_processor()
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, value)
        return sentry_sdk.capture_message(_redactor.text(message), level=level)
