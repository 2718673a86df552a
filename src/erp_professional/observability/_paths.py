"""Excluded-path matching shared by the tracing and access-log concerns."""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["path_matcher"]

_KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)


def path_matcher(patterns: Iterable[str], prefix: str) -> Callable[[str], bool]:
    """A predicate: is ``path`` one of ``patterns`` or below one (segment boundary)?

    ``{prefix}`` in a pattern stands for the toolkit prefix (``/_pro``).
    """
    roots = tuple(sorted({p.replace("{prefix}", prefix).rstrip("/") or "/" for p in patterns}))
    if not roots:
        return lambda path: False
    if "/" in roots:
        return lambda path: True
    below = tuple(root + "/" for root in roots)
    exact = frozenset(roots)

    def excluded(path: str) -> bool:
        return path in exact or path.startswith(below)

    return excluded


def normalize_method(method: str) -> str:
    """The method as OpenTelemetry semantic conventions name it (``_OTHER`` if unknown)."""
    return method if method in _KNOWN_METHODS else "_OTHER"
