"""Small helpers shared by the security concerns (cookies, Vary, logging, metrics)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics

from ..web import Exchange, RequestHeaders, ResponseHeaders

log = logging.getLogger("erp_professional.security")
_meter = metrics.get_meter("erp_professional.security")
_events = _meter.create_counter(
    "erp_professional.security.events",
    description="Security decisions: rejections, report-only findings, storage failures",
)


def count(event: str, **attributes: Any) -> None:
    """Count one security event (``csrf.rejected``, ``ratelimit.storage_error`` …)."""
    _events.add(1, {"event": event, **{k: str(v) for k, v in attributes.items()}})


def cookie(headers: RequestHeaders, name: str) -> str | None:
    """The value of cookie ``name`` in the request, or ``None``."""
    for line in headers.getall("cookie"):
        for part in line.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
    return None


#: The types of ASGI header names (one tuple, not a new union object per response).
BYTE_TYPES = (bytes, bytearray)
_VARY: dict[tuple[str, ...], bytes] = {}  # a few fixed name lists, encoded once


def add_vary(headers: ResponseHeaders, names: Iterable[str]) -> None:
    """Add ``names`` to the response's ``Vary`` header without duplicates."""
    raw = getattr(headers, "raw", None)
    if type(raw) is list and raw and isinstance(raw[0][0], BYTE_TYPES):
        for name, _ in raw:
            if len(name) == 4 and name.lower() == b"vary":
                break
        else:
            key = names if type(names) is tuple else tuple(names)
            value = _VARY.get(key)
            if value is None:
                value = ", ".join(key).encode("latin-1")
                if len(_VARY) < 64:
                    _VARY[key] = value
            raw.append((b"vary", value))
            return
    current = headers.get("vary")
    if current is not None and current.strip() == "*":
        return
    have = [v.strip() for v in current.split(",") if v.strip()] if current else []
    lowered = {v.lower() for v in have}
    added = [n for n in names if n.lower() not in lowered]
    if added:
        headers.set("Vary", ", ".join([*have, *added]))


def append_headers(
    exchange: Exchange, headers: ResponseHeaders, pairs: Iterable[tuple[str, str]]
) -> None:
    """Add response headers, straight onto the driver's header list when it has one."""
    raw = getattr(headers, "raw", None)
    if type(raw) is list:
        if exchange.kind == "asgi":
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs)
        else:
            raw.extend(pairs)
        return
    for name, value in pairs:
        headers.add(name, value)


def safe_for_log(value: str, limit: int = 120) -> str:
    """A request-controlled string made safe for a log line (no newlines, bounded)."""
    cleaned = value.encode("unicode_escape", "backslashreplace").decode("ascii", "replace")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
