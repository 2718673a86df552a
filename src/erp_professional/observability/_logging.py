"""``setup_logging``: loguru configured once, stdlib logging routed into the same sink.

Each line carries the request id, trace id, span id and user of the request it belongs
to, read from context variables when the line is written (so lines logged from threads
and executors started inside a request carry them too, see ``_context``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, ClassVar, Literal

from loguru import logger
from opentelemetry import trace

from .._sections.observability import LoggingConfig, ObservabilityConfig
from ..config import ProfessionalConfig
from ..web import Concern, Exchange, current_exchange
from . import _context
from ._redact import Redactor
from ._server import SPAN_KEY

__all__ = ["InterceptHandler", "LogSink", "logger", "setup_logging"]

# LogRecord attributes, and uvicorn's ``color_message`` (the message again, with ANSI codes).
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_COLORS = {
    "TRACE": "\x1b[2m",
    "DEBUG": "\x1b[34m",
    "INFO": "\x1b[32m",
    "SUCCESS": "\x1b[32m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
}
_CONTEXT_KEYS = ("logger", "request_id", "trace_id", "span_id", "user")
#: An ``extra`` key set by code that already redacted its fields (the access log).
REDACTED_MARK = "_erp_redacted"
#: ``exchange.state`` key set once the request's completion hooks have all run.
REQUEST_DONE = "erp.request_done"
_LEVEL_NO = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}


_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
# The same encoding as ``_ENCODER`` for the flat, acyclic field dicts of ``LogSink.emit``,
# made once instead of per line (``JSONEncoder.encode`` builds its C encoder every call).
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_FLAT_ENCODER: Callable[[dict[str, Any], int], Any] | None = (
    None
    if _make_encoder is None
    else _make_encoder(
        None, str, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
    )
)
_second: list[Any] = [None, ""]
_MILLIS = tuple(f".{ms:03d}+00:00" for ms in range(1000))  # the end of every timestamp


def utc_timestamp(now: float | None = None) -> str:
    """``2026-11-27T19:46:03.172+00:00`` for ``now`` (default: the current time); the
    date-and-seconds part is formatted once per second."""
    t = time.time() if now is None else now
    second = int(t)
    cached = _second
    if cached[0] != second:
        cached[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached[0] = second
    seconds: str = cached[1]
    return seconds + _MILLIS[int((t - second) * 1000)]


def user_of(principal: object) -> str | None:
    """A short user identifier from a request principal (id, username, name, or a string)."""
    if principal is None:
        return None
    if isinstance(principal, (str, int)):
        return str(principal)
    for attr in ("id", "user_id", "username", "name", "sub"):
        value = getattr(principal, attr, None)
        if value is not None and not callable(value):
            return str(value)
    if isinstance(principal, dict):
        for key in ("id", "user_id", "username", "sub"):
            if principal.get(key) is not None:
                return str(principal[key])
    return None


def request_context() -> dict[str, str]:
    """request_id, trace_id, span_id and user of the current context (absent keys omitted).

    A thread started during a request keeps a copy of the request's context; once the
    request is over (see :class:`RequestEndConcern`) its ids are no longer reported.
    """
    result: dict[str, str] = {}
    exchange = current_exchange()
    current = trace.get_current_span()
    server_span = exchange.state.get(SPAN_KEY) if exchange is not None else None
    if exchange is not None and exchange.state.get(REQUEST_DONE):
        if current is server_span:
            return result
        exchange = None
    span_context = current.get_span_context()
    if not span_context.is_valid and server_span is not None:
        span_context = server_span.get_span_context()
    if exchange is not None:
        if exchange.request_id:
            result["request_id"] = exchange.request_id
        user = user_of(exchange.principal)
        if user is not None:
            result["user"] = user
    if span_context.is_valid:
        result["trace_id"] = format(span_context.trace_id, "032x")
        result["span_id"] = format(span_context.span_id, "016x")
    return result


class RequestEndConcern(Concern):
    """Marks the exchange finished after every other completion hook has run, so that
    threads which outlive the request stop logging with its ids."""

    name: ClassVar[str] = "request_end"
    order: ClassVar[int] = -1000

    def on_complete(self, exchange: Exchange) -> None:
        exchange.state[REQUEST_DONE] = True


def _exception_field(
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
    redactor: Redactor,
) -> dict[str, Any] | None:
    if exc_type is None:
        return None
    frames = [
        {"file": f.filename, "line": f.lineno, "function": f.name} for f in traceback.extract_tb(tb)
    ]
    field: dict[str, Any] = {
        "type": f"{exc_type.__module__}.{exc_type.__qualname__}"
        if exc_type.__module__ != "builtins"
        else exc_type.__qualname__,
        "message": redactor.text(str(exc)) if exc is not None else "",
        "frames": frames,
    }
    cause = exc.__cause__ or exc.__context__ if exc is not None else None
    if cause is not None:
        field["cause"] = {"type": type(cause).__qualname__, "message": redactor.text(str(cause))}
    return field


class LogSink:
    """The loguru sink: one flat JSON object per line, or a readable coloured line."""

    def __init__(
        self,
        fmt: Literal["json", "console"],
        redactor: Redactor,
        stream: Callable[[], IO[str]] | IO[str] = lambda: sys.stderr,
        colour: bool | None = None,
    ) -> None:
        self.format = fmt
        self.redactor = redactor
        self._stream = stream
        self._lock = threading.Lock()
        self.colour = colour
        self.level_no = 0

    def stream(self) -> IO[str]:
        return self._stream() if callable(self._stream) else self._stream

    def __call__(self, message: Any) -> None:
        record = message.record
        out = self.fields(record)
        exception = record["exception"]
        self.write_line(self.render(out, exception))

    def write_line(self, line: str) -> None:
        stream = self.stream()
        with self._lock:
            stream.write(line)
            if not getattr(stream, "line_buffering", False):
                stream.flush()

    def emit(self, level: str, logger_name: str, message: str, fields: dict[str, Any]) -> None:
        """Write one line straight to this sink, bypassing loguru's machinery.

        For hot paths whose fields are already redacted and carry their own ids (the
        access log): same format, same stream, same level threshold.
        """
        if _LEVEL_NO.get(level, 0) < self.level_no:
            return
        out: dict[str, Any] = {
            "time": utc_timestamp(),
            "level": level,
            "message": message,
            "logger": logger_name,
        }
        out.update(fields)
        if self.format == "json" and _FLAT_ENCODER is not None:
            self.write_line("".join(_FLAT_ENCODER(out, 0)) + "\n")
        else:
            self.write_line(self.render(out, None))

    def enabled_for(self, level: str) -> bool:
        """Would a line at ``level`` be written?"""
        return _LEVEL_NO.get(level, 0) >= self.level_no

    def fields(self, record: dict[str, Any]) -> dict[str, Any]:
        redactor = self.redactor
        extra = record["extra"]
        clean = extra.get(REDACTED_MARK, False)
        message = record["message"]
        out: dict[str, Any] = {
            "time": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
            "level": record["level"].name,
            "message": message if clean else redactor.text(message),
            "logger": extra.get("logger") or record["name"],
        }
        if "span_id" in extra and "request_id" in extra:
            context: dict[str, str] = {}
        else:
            context = request_context()
        for key in ("request_id", "trace_id", "span_id", "user"):
            value = extra.get(key) or context.get(key)
            if value is not None:
                out[key] = value
        for key, value in extra.items():
            if key in _CONTEXT_KEYS or key in out or key == REDACTED_MARK:
                continue
            if clean:
                out[key] = value
            elif redactor.is_sensitive_key(key):
                out[key] = "[REDACTED]"
            else:
                out[key] = redactor.value(value)
        exception = record["exception"]
        if exception is not None:
            out["exception"] = _exception_field(
                exception.type, exception.value, exception.traceback, redactor
            )
        return out

    def render(self, out: dict[str, Any], exception: Any) -> str:
        """One output line (JSON or console) for the flat fields ``out``."""
        if self.format == "json":
            return _ENCODER.encode(out) + "\n"
        return self.console_line(out, exception)

    def json_line(self, record: dict[str, Any]) -> str:
        return self.render(self.fields(record), None)

    def console_line(self, fields: dict[str, Any], exception: Any = None) -> str:
        fields = dict(fields)
        colour = self.colour
        if colour is None:
            colour = bool(getattr(self.stream(), "isatty", lambda: False)())
        level = fields.pop("level")
        stamp = str(fields.pop("time"))[11:23]
        message = fields.pop("message")
        name = fields.pop("logger")
        fields.pop("exception", None)
        rest = " ".join(f"{k}={v}" for k, v in fields.items())
        if colour:
            paint = _COLORS.get(level, "")
            head = f"\x1b[2m{stamp}\x1b[0m {paint}{level:<8}\x1b[0m \x1b[36m{name}\x1b[0m"
            rest = f" \x1b[2m{rest}\x1b[0m" if rest else ""
        else:
            head = f"{stamp} {level:<8} {name}"
            rest = f" {rest}" if rest else ""
        line = f"{head} {message}{rest}\n"
        if exception is not None:
            line += self.redactor.text(
                "".join(
                    traceback.format_exception(exception.type, exception.value, exception.traceback)
                )
            )
        return line


class InterceptHandler(logging.Handler):
    """A stdlib handler that hands every record to loguru (keeping the logger name,
    level, exception and ``extra=`` fields)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        extra["logger"] = record.name
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!r} % {record.args!r}"
        logger.opt(exception=record.exc_info).bind(**extra).log(level, message)


class _State:
    handler_id: int | None = None
    sink: LogSink | None = None
    intercept: InterceptHandler | None = None
    touched: list[tuple[logging.Logger, list[logging.Handler], bool]] = []  # noqa: RUF012


_state = _State()
_lock = threading.Lock()


def setup_logging(
    config: LoggingConfig | ObservabilityConfig | ProfessionalConfig | None = None,
    *,
    stream: IO[str] | None = None,
) -> LogSink:
    """Configure loguru's sink (JSON or console) and route stdlib logging into it.

    Calling it again replaces the previous erp_professional sink; handlers added to
    loguru by the app itself are left alone (loguru's default stderr handler is removed).
    ``stream`` overrides ``config.stream`` (tests write to a ``StringIO``).
    """
    if isinstance(config, ProfessionalConfig):
        config = config.observability.logging
    elif isinstance(config, ObservabilityConfig):
        config = config.logging
    settings = config or LoggingConfig()
    redactor = Redactor(settings.redact_keys, settings.redact_patterns)
    target: Callable[[], IO[str]] | IO[str]
    if stream is not None:
        target = stream
    elif settings.stream == "stdout":
        target = lambda: sys.stdout  # noqa: E731
    else:
        target = lambda: sys.stderr  # noqa: E731
    fmt = settings.format
    if fmt == "auto":
        probe = target() if callable(target) else target
        fmt = "console" if getattr(probe, "isatty", lambda: False)() else "json"
    sink = LogSink(fmt, redactor, target)
    sink.level_no = _LEVEL_NO[settings.level]
    with _lock:
        if _state.handler_id is None:
            with contextlib.suppress(ValueError):
                logger.remove(0)
        else:
            logger.remove(_state.handler_id)
        _state.handler_id = logger.add(
            sink, level=settings.level, format="{message}", colorize=False, catch=True
        )
        _state.sink = sink
        if settings.intercept_stdlib:
            _intercept_stdlib(settings.level)
        else:
            _release_stdlib()
    if settings.propagate_context:
        _context.install()
    return sink


def _intercept_stdlib(level: str) -> None:
    root = logging.getLogger()
    if _state.intercept is None:
        _state.intercept = InterceptHandler()
    handler = _state.intercept
    if handler not in root.handlers:
        # Plain stream handlers (logging.basicConfig) would print every line twice.
        for old in [h for h in root.handlers if type(h) is logging.StreamHandler]:
            root.removeHandler(old)
        root.addHandler(handler)
    numeric = logging.getLevelName("WARNING" if level == "SUCCESS" else level)
    root.setLevel(numeric if isinstance(numeric, int) else logging.DEBUG)
    # Servers install their own handlers on their loggers: send them through ours instead.
    for name in list(logging.root.manager.loggerDict):
        if name.split(".", 1)[0] in ("uvicorn", "gunicorn", "django", "hypercorn", "waitress"):
            log = logging.getLogger(name)
            _state.touched.append((log, list(log.handlers), log.propagate))
            log.handlers = []
            log.propagate = True


def _release_stdlib() -> None:
    root = logging.getLogger()
    if _state.intercept is not None and _state.intercept in root.handlers:
        root.removeHandler(_state.intercept)
    for log, handlers, propagate in _state.touched:
        log.handlers = handlers
        log.propagate = propagate
    _state.touched = []


def teardown_logging() -> None:
    """Remove the erp_professional sink and stdlib interception (tests, re-configuration)."""
    with _lock:
        if _state.handler_id is not None:
            logger.remove(_state.handler_id)
            _state.handler_id = None
        _state.sink = None
        _release_stdlib()
    _context.uninstall()


def current_sink() -> LogSink | None:
    return _state.sink


# Same-name helper used by the access log: loguru bound once to its logger name.
access_logger = logger.bind(logger="erp_professional.access")
