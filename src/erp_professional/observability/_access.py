"""The access-log concern: one structured line per request, sampled, slow ones always."""

from __future__ import annotations

import random
from collections.abc import Callable
from json.encoder import encode_basestring as _quote
from typing import ClassVar

from ..web import Concern, Exchange
from ._logging import REDACTED_MARK, access_logger, current_sink, user_of, utc_timestamp
from ._redact import Redactor
from ._server import AGENT_KEY, SPAN_KEY

__all__ = ["AccessLogConcern"]


class AccessLogConcern(Concern):
    """Logs method, route, path, status, duration_ms, bytes, client, user agent and the
    request id (plus trace ids) of every completed request; bodies are never logged.

    ``sample_rate`` keeps that fraction of ordinary lines; 5xx, unhandled errors and
    requests slower than ``slow_ms`` are always logged (slow ones at WARNING, server
    errors at ERROR).
    """

    name: ClassVar[str] = "access_log"
    order: ClassVar[int] = 30

    def __init__(
        self,
        *,
        sample_rate: float = 1.0,
        slow_ms: float | None = 1000.0,
        excluded: Callable[[str], bool] = lambda path: False,
        rng: Callable[[], float] = random.random,
        redactor: Redactor | None = None,
    ) -> None:
        self.redactor = redactor or Redactor()
        self._agents: dict[str, str] = {}
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be between 0 and 1")
        self.sample_rate = sample_rate
        self.slow_ms = slow_ms
        self.excluded = excluded
        self._rng = rng

    def on_complete(self, exchange: Exchange) -> None:
        path = exchange.path
        if self.excluded(path):
            return
        status = exchange.status or 0
        micros = int(exchange.duration * 1e6 + 0.5)
        duration_ms = micros / 1000.0  # milliseconds to the microsecond
        slow = self.slow_ms is not None and duration_ms >= self.slow_ms
        failed = status >= 500 or exchange.error is not None or exchange.status is None
        if not (slow or failed) and self.sample_rate < 1.0 and self._rng() >= self.sample_rate:
            return
        route = exchange.route
        method = exchange.method
        redact = self.redactor.text
        path = redact(path)
        level = "ERROR" if failed else "WARNING" if slow else "INFO"
        tenths = (micros + 50) // 100  # integer arithmetic: cheaper than float formatting
        message = f"{method} {route or path} {status} {tenths // 10}.{tenths % 10}ms"
        sink = current_sink()
        if sink is not None and not sink.enabled_for(level):
            return
        trace_id = span_id = None
        state = exchange.state
        span = state.get(SPAN_KEY)
        if span is not None:
            context = span.get_span_context()
            if context.is_valid:
                trace_id = format(context.trace_id, "032x")
                span_id = format(context.span_id, "016x")
        # The tracing concern found it already when it scanned the headers.
        agent = state.get(AGENT_KEY, _UNSCANNED)
        if agent is _UNSCANNED:
            agent = exchange.headers.get("user-agent")
        if agent is not None:
            clean = self._agents.get(agent)
            if clean is None:
                clean = redact(agent)
                if len(self._agents) < 1024:  # user agents repeat: remember a few
                    self._agents[agent] = clean
            agent = clean
        user = user_of(exchange.principal)
        if sink is not None and sink.format == "json":
            sink.write_line(
                _json_line(
                    level,
                    message,
                    exchange.request_id,
                    trace_id,
                    span_id,
                    method,
                    route,
                    path,
                    status,
                    duration_ms,
                    exchange.bytes_sent,
                    exchange.client,
                    agent,
                    user,
                    slow,
                )
            )
            return
        fields: dict[str, object] = {"request_id": exchange.request_id}
        if trace_id is not None:
            fields["trace_id"] = trace_id
            fields["span_id"] = span_id
        fields["method"] = method
        fields["route"] = route
        fields["path"] = path
        fields["status"] = status
        fields["duration_ms"] = duration_ms
        fields["bytes"] = exchange.bytes_sent
        fields["client"] = exchange.client
        fields["user_agent"] = agent
        if user is not None:
            fields["user"] = user
        if slow:
            fields["slow"] = True
        if sink is not None:
            sink.emit(level, ACCESS_LOGGER, message, fields)
        else:
            access_logger.bind(**{REDACTED_MARK: True, **fields}).log(level, message)


ACCESS_LOGGER = "erp_professional.access"
_UNSCANNED: object = object()


_QUOTED: dict[str | None, str] = {None: "null"}
_known = _QUOTED.get  # a quoted value is never empty: ``_known(v) or _quoted(v)``


def _quoted(value: str | None) -> str:
    """``value`` as a JSON string (``null`` for ``None``), remembered for values that
    repeat request after request (methods, routes, clients, user agents)."""
    quoted = _QUOTED.get(value)
    if quoted is None:
        quoted = "null" if value is None else _quote(value)
        if len(_QUOTED) < 2048 and len(quoted) <= 256:  # bounded: values come from clients
            _QUOTED[value] = quoted
    return quoted


def _json_line(
    level: str,
    message: str,
    request_id: str,
    trace_id: str | None,
    span_id: str | None,
    method: str,
    route: str | None,
    path: str,
    status: int,
    duration_ms: float,
    size: int,
    client: str | None,
    agent: str | None,
    user: str | None,
    slow: bool,
) -> str:
    """The access line as the JSON sink would encode its fields, written out directly.

    Every free-form value goes through the JSON string encoder; the rest are numbers,
    hex ids, the timestamp and constants.
    """
    ids = "" if trace_id is None else f', "trace_id": "{trace_id}", "span_id": "{span_id}"'
    tail = "}\n"
    if user is not None or slow:
        tail = (f', "user": {_quote(user)}' if user is not None else "") + (
            ', "slow": true}\n' if slow else "}\n"
        )
    return (
        f'{{"time": "{utc_timestamp()}", "level": "{level}", "message": {_quote(message)}, '
        f'"logger": "{ACCESS_LOGGER}", "request_id": {_quote(request_id)}{ids}, '
        f'"method": {_known(method) or _quoted(method)}, '
        f'"route": {_known(route) or _quoted(route)}, '
        f'"path": {_quote(path)}, "status": {status}, "duration_ms": {duration_ms!r}, '
        f'"bytes": {size}, "client": {_known(client) or _quoted(client)}, '
        f'"user_agent": {_known(agent) or _quoted(agent)}{tail}'
    )
