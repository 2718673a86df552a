"""Request body hygiene: size limit (413), content-type allowlist (415), JSON depth/size (400).

The size limit is checked against ``Content-Length`` up front and counted while the body
streams in (``exchange.body_limit``). JSON limits need the body itself: under WSGI the
concern reads it and hands the app an identical stream; under ASGI the :class:`BodyGuard`
middleware reads it as it arrives and replays it to the app (``integrate()`` has the ASGI
driver run it between itself and every ASGI app).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from ..web import Concern, Exchange, Response, current_exchange, problem
from ._routes import RouteTable
from ._util import count

__all__ = [
    "BodyGuard",
    "BodyLimits",
    "BodyLimitsConcern",
    "defer_body_check",
    "json_depth_exceeds",
]

BODY_CHECKS_KEY = "security.body_checks"
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The limits that apply to one request."""

    max_bytes: int | None = 10 * 1024 * 1024
    content_types: tuple[str, ...] = ()
    json_max_depth: int | None = 64
    json_max_bytes: int | None = 1024 * 1024

    def allows_type(self, media_type: str) -> bool:
        if not self.content_types:
            return True
        for allowed in self.content_types:
            if allowed == media_type:
                return True
            if allowed.endswith("/*") and media_type.startswith(allowed[:-1]):
                return True
        return False


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def json_depth_exceeds(data: bytes, max_depth: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than ``max_depth``.

    A linear scan that skips strings; it does not validate the JSON (the app parses it).
    """
    depth = 0
    in_string = False
    escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _json_problem(data: bytes, limits: BodyLimits, request_id: str) -> Response | None:
    if limits.json_max_bytes is not None and len(data) > limits.json_max_bytes:
        return problem(
            400,
            f"The JSON body is larger than {limits.json_max_bytes} bytes.",
            title="JSON body too large",
            request_id=request_id,
        )
    if limits.json_max_depth is not None and json_depth_exceeds(data, limits.json_max_depth):
        return problem(
            400,
            f"The JSON body nests deeper than {limits.json_max_depth} levels.",
            title="JSON body too deep",
            request_id=request_id,
        )
    return None


class BodyLimitsConcern(Concern):
    """Rejects oversized bodies (413), unlisted media types (415) and abusive JSON (400)."""

    name: ClassVar[str] = "security.body"
    order: ClassVar[int] = 130

    def __init__(
        self,
        limits: BodyLimits | None = None,
        routes: RouteTable[BodyLimits] | None = None,
    ) -> None:
        self.limits = limits or BodyLimits()
        self.routes: RouteTable[BodyLimits] = routes or RouteTable()

    def limits_for(self, exchange: Exchange) -> BodyLimits:
        if self.routes:
            found = self.routes.lookup(exchange)
            if found is not None:
                return found
        return self.limits

    def on_request(self, exchange: Exchange) -> Response | None:
        rejection = self._check(exchange)
        if rejection is not None:
            count("body.rejected", status=rejection.status)
        return rejection

    def _check(self, exchange: Exchange) -> Response | None:
        limits = self.limits_for(exchange)
        headers = exchange.headers
        raw_length = headers.get("content-length")
        length: int | None = None
        if raw_length is not None:
            text = raw_length.strip()
            if not text.isdigit() or not text.isascii():
                return problem(
                    400, "Content-Length is not a number.", request_id=exchange.request_id
                )
            length = int(text)
            if limits.max_bytes is not None and length > limits.max_bytes:
                return problem(
                    413,
                    f"The request body is larger than {limits.max_bytes} bytes.",
                    request_id=exchange.request_id,
                )
        has_body = (length is not None and length > 0) or "transfer-encoding" in headers
        if limits.max_bytes is not None and (has_body or exchange.method not in _NO_BODY_METHODS):
            exchange.body_limit = limits.max_bytes
        if not has_body:
            return None
        media_type = _media_type(headers.get("content-type"))
        if not limits.allows_type(media_type):
            return problem(
                415,
                f"Content-Type {media_type or '(none)'!r} is not accepted here.",
                request_id=exchange.request_id,
                accepted=list(limits.content_types),
            )
        if _is_json(media_type) and (
            limits.json_max_depth is not None or limits.json_max_bytes is not None
        ):
            if exchange.kind == "wsgi":
                return self._check_wsgi_json(exchange, limits)
            defer_body_check(exchange, *_json_check(limits, exchange.request_id))
        return None

    def _check_wsgi_json(self, exchange: Exchange, limits: BodyLimits) -> Response | None:
        environ = exchange.raw
        stream: BinaryIO | None = environ.get("wsgi.input")
        if stream is None:
            return None
        cap = _read_cap(limits)
        data = _read_upto(stream, cap)
        if limits.max_bytes is not None and len(data) > limits.max_bytes:
            return problem(
                413,
                f"The request body is larger than {limits.max_bytes} bytes.",
                request_id=exchange.request_id,
            )
        rejection = _json_problem(data, limits, exchange.request_id)
        if rejection is not None:
            return rejection
        environ["wsgi.input"] = _Rewound(data, stream)
        return None


def _read_cap(limits: BodyLimits) -> int:
    caps = [c for c in (limits.json_max_bytes, limits.max_bytes) if c is not None]
    return (min(caps) + 1) if caps else 64 * 1024 * 1024


def _read_upto(stream: BinaryIO, cap: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < cap:
        chunk = stream.read(min(65536, cap - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


class _Rewound(io.RawIOBase):
    """The bytes already read, then the rest of the original stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = io.BytesIO(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._head.read() + self._rest.read()
        data = self._head.read(size)
        if len(data) < size:
            data += self._rest.read(size - len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        line = self._head.readline(-1 if size is None else size)
        if line.endswith(b"\n") or (size is not None and 0 <= size <= len(line)):
            return line
        more = self._rest.readline(-1 if size is None or size < 0 else size - len(line))
        return line + bytes(more)

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


BodyCheck = Callable[[bytes], "Response | None"]
"""Looks at a complete request body; returns a rejection or ``None``."""


def defer_body_check(exchange: Exchange, cap: int, check: BodyCheck) -> None:
    """Ask :class:`BodyGuard` to run ``check`` on the body (at most ``cap`` bytes read;
    a longer body is handed to ``check`` cut at ``cap``, so ``check`` must refuse it)."""
    pending = exchange.state.setdefault(BODY_CHECKS_KEY, [])
    pending.append((cap, check))
    exchange.wants_middleware = True  # the ASGI driver routes this request through BodyGuard


def _json_check(limits: BodyLimits, request_id: str) -> tuple[int, BodyCheck]:
    cap = _read_cap(limits)

    def check(data: bytes) -> Response | None:
        if limits.max_bytes is not None and len(data) > limits.max_bytes:
            return problem(
                413,
                f"The request body is larger than {limits.max_bytes} bytes.",
                request_id=request_id,
            )
        return _json_problem(data, limits, request_id)

    return cap, check


class BodyGuard:
    """ASGI middleware that runs the body checks the security concerns ask for.

    JSON depth/size limits (:class:`BodyLimitsConcern`) and the CSRF token of urlencoded
    forms (:class:`CsrfConcern`) need the body. The guard reads it as it arrives (never
    more than the largest check's cap plus one chunk), answers the first rejection, and
    otherwise replays the body to the app unchanged. Requests without checks pass straight
    through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = current_exchange() if scope.get("type") == "http" else None
        checks = exchange.state.pop(BODY_CHECKS_KEY, None) if exchange is not None else None
        if exchange is None or not checks:
            await self.app(scope, receive, send)
            return
        cap = max(c for c, _ in checks)
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total >= cap or not message.get("more_body", False):
                break
        if messages[-1]["type"] == "http.request":
            data = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
            for check_cap, check in checks:
                rejection = check(data[:check_cap])
                if rejection is not None:
                    count("body.rejected", status=rejection.status)
                    await _send(rejection, send, exchange.method)
                    return
        await self.app(scope, _replay(messages, receive), send)


def _replay(messages: Iterable[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _send(response: Response, send: Send, method: str) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})
