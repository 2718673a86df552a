"""Drive an ASGI app directly with a scripted receive and a recording send."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def http_scope(
    path: str = "/", method: str = "GET", headers: Any = (), **extra: Any
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in dict(headers).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(extra)
    return scope


def run(
    app: Callable[..., Awaitable[None]],
    scope: dict[str, Any],
    body: list[bytes] | None = None,
) -> list[dict[str, Any]]:
    """Call ``app`` once; return every message it sent."""
    sent: list[dict[str, Any]] = []
    chunks = list(body or [b""])

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def headers_of(message: dict[str, Any]) -> dict[str, str]:
    return {bytes(k).decode().lower(): bytes(v).decode() for k, v in message["headers"]}
