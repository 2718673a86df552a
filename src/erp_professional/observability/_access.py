"""The access-log concern: one structured line per request, sampled, slow ones always."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import ClassVar

from ..web import Concern, Exchange
from ._logging import REDACTED_MARK, access_logger, current_sink, user_of, utc_timestamp
from ._redact import Redactor
from ._server import SPAN_KEY

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
        duration_ms = round(exchange.duration * 1000.0, 3)
        slow = self.slow_ms is not None and duration_ms >= self.slow_ms
        failed = status >= 500 or exchange.error is not None or exchange.status is None
        if not (slow or failed) and self.sample_rate < 1.0 and self._rng() >= self.sample_rate:
            return
        route = exchange.route
        method = exchange.method
        redact = self.redactor.text
        path = redact(path)
        level = "ERROR" if failed else "WARNING" if slow else "INFO"
        message = f"{method} {route or path} {status} {duration_ms:.1f}ms"
        sink = current_sink()
        if sink is not None:
            if not sink.enabled_for(level):
                return
            # The line's fields in their final order, written without loguru.
            fields: dict[str, object] = {
                "time": utc_timestamp(),
                "level": level,
                "message": message,
                "logger": "erp_professional.access",
                "request_id": exchange.request_id,
            }
        else:
            fields = {REDACTED_MARK: True, "request_id": exchange.request_id}
        span = exchange.state.get(SPAN_KEY)
        if span is not None:
            context = span.get_span_context()
            if context.is_valid:
                fields["trace_id"] = format(context.trace_id, "032x")
                fields["span_id"] = format(context.span_id, "016x")
        fields["method"] = method
        fields["route"] = route
        fields["path"] = path
        fields["status"] = status
        fields["duration_ms"] = duration_ms
        fields["bytes"] = exchange.bytes_sent
        fields["client"] = exchange.client
        agent = exchange.headers.get("user-agent")
        if agent is not None:
            clean = self._agents.get(agent)
            if clean is None:
                clean = redact(agent)
                if len(self._agents) < 1024:  # user agents repeat: remember a few
                    self._agents[agent] = clean
            agent = clean
        fields["user_agent"] = agent
        user = user_of(exchange.principal)
        if user is not None:
            fields["user"] = user
        if slow:
            fields["slow"] = True
        if sink is not None:
            sink.write_fields(fields)
        else:
            access_logger.bind(**fields).log(level, message)
