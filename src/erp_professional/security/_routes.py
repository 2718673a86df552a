"""Route patterns shared by the security concerns: per-route settings, bypasses, exemptions.

A pattern is ``"/path"`` or ``"METHOD /path"``; the path is a route template (``/items/{id}``
in Starlette/FastAPI, ``/items/<int:id>`` in Flask) and may end with ``*`` to match a prefix.
A pattern matches the exchange's route template when the framework knows it, else the raw
path (a ``{param}`` or ``<param>`` segment matches one path segment).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from ..web import Exchange

__all__ = ["RoutePattern", "RouteTable"]

T = TypeVar("T")
_PARAM = re.compile(r"\{[^{}/]+\}|<[^<>/]+>")
_METHOD = re.compile(r"^[A-Z]+$")


class RoutePattern:
    """One compiled ``[METHOD ]/path`` pattern."""

    __slots__ = ("methods", "pattern", "regex")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        text = pattern.strip()
        methods: frozenset[str] | None = None
        if " " in text:
            head, _, text = text.partition(" ")
            names = [m.strip().upper() for m in head.split("|") if m.strip()]
            if not names or not all(_METHOD.fullmatch(m) for m in names):
                raise ValueError(f"route pattern {pattern!r}: {head!r} is not an HTTP method")
            methods = frozenset(names)
            text = text.strip()
        if not text.startswith("/"):
            raise ValueError(f"route pattern {pattern!r} must start with '/' (after any method)")
        prefix = text.endswith("*")
        body = text[:-1] if prefix else text
        parts: list[str] = []
        last = 0
        for match in _PARAM.finditer(body):
            parts.append(re.escape(body[last : match.start()]))
            parts.append(r"[^/]+")
            last = match.end()
        parts.append(re.escape(body[last:]))
        self.regex = re.compile("".join(parts) + (".*" if prefix else "") + r"\Z", re.DOTALL)
        self.methods = methods

    def matches(self, exchange: Exchange) -> bool:
        if self.methods is not None and exchange.method not in self.methods:
            return False
        route = exchange.route
        if route is not None and self.regex.match(route):
            return True
        return self.regex.match(exchange.path) is not None

    def __repr__(self) -> str:
        return f"RoutePattern({self.pattern!r})"


class RouteTable(Generic[T]):
    """Patterns mapped to values; :meth:`lookup` returns the first match in order."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, T] | Iterable[tuple[str, T]] = ()) -> None:
        items = entries.items() if isinstance(entries, Mapping) else entries
        self._entries = tuple((RoutePattern(key), value) for key, value in items)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def lookup(self, exchange: Exchange) -> T | None:
        for pattern, value in self._entries:
            if pattern.matches(exchange):
                return value
        return None


class RouteSet:
    """A set of patterns (bypasses, exemptions)."""

    __slots__ = ("_patterns",)

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._patterns = tuple(RoutePattern(p) for p in patterns)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def matches(self, exchange: Exchange) -> bool:
        return any(p.matches(exchange) for p in self._patterns)
