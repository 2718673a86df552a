"""Redaction of secrets in log messages, log extras and error reports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "SENSITIVE_KEYS", "Redactor"]

MASK = "[REDACTED]"

#: Key fragments treated as secret (case and ``-``/``_`` insensitive, matched inside keys).
SENSITIVE_KEYS = (
    "authorization",
    "cookie",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "xapikey",
    "session",
    "credential",
    "privatekey",
    "private_key",
    "csrf",
    "xsrf",
    "signature",
    "dsn",
)

_KEY_WORDS = (
    r"(?:password|passwd|pwd|secret|client[_-]?secret|(?:access|refresh|id|auth|api|csrf)?"
    r"[_-]?token|api[_\s-]?key|x-api-key|apikey|session(?:[_-]?id)?|private[_-]?key)"
)
_BUILTIN = (
    # Authorization: Bearer xyz / Proxy-Authorization: Basic xyz
    (re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)[^\s,;]+(?:\s+[^\s,;'\"]+)?"), r"\1"),
    # Cookie / Set-Cookie headers: everything to the end of the line
    (re.compile(r"(?i)\b((?:set-)?cookie\s*[:=]\s*)[^\r\n]+"), r"\1"),
    # Bearer tokens anywhere
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1"),
    # key=value, key: value, "key": "value" for secret-looking keys
    (
        re.compile(r"(?i)(\b[\w-]*" + _KEY_WORDS + r"[\w-]*[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"),
        r"\1",
    ),
    # prose: "the password is hunter2", "api key was k-123"
    (
        re.compile(r"(?i)(\b" + _KEY_WORDS + r"s?\s+(?:is|was|=|:)\s+[\"']?)([^\s\"'&,;}]+)"),
        r"\1",
    ),
    # URLs with credentials: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@/\s]+(@)"), r"\1"),
)


def _normalize(key: str) -> str:
    return key.lower().replace("-", "_")


class Redactor:
    """Masks secrets: by key in mappings, by pattern in text.

    ``keys`` extend :data:`SENSITIVE_KEYS`; ``patterns`` are regular expressions whose
    whole match is replaced by ``[REDACTED]`` (or only the group named ``value``).
    """

    def __init__(self, keys: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self.keys = tuple(dict.fromkeys(_normalize(k) for k in (*SENSITIVE_KEYS, *keys)))
        self._squashed = tuple(k.replace("_", "") for k in self.keys)
        self.patterns = [re.compile(p) for p in patterns]
        self._cache: dict[str, bool] = {}
        # Cheap substring checks decide whether the (slower) patterns run at all.
        triggers = {"authorization", "cookie", "bearer", "://", "api key"}
        for key in self.keys:
            triggers.update({key, key.replace("_", "-"), key.replace("_", "")})
        self._triggers = tuple(sorted((t for t in triggers if t), key=len, reverse=True))
        self._triggered = re.compile("|".join(map(re.escape, self._triggers))).search

    def is_sensitive_key(self, key: str) -> bool:
        known = self._cache.get(key)
        if known is not None:
            return known
        norm = _normalize(key)
        squashed = norm.replace("_", "")
        result = any(k in norm for k in self.keys) or any(k in squashed for k in self._squashed)
        if len(self._cache) < 4096:
            self._cache[key] = result
        return result

    def text(self, value: str) -> str:
        """Mask secrets inside free text."""
        if self._triggered(value.lower()) is not None:
            for pattern, keep in _BUILTIN:
                value = pattern.sub(keep + MASK.replace("\\", "\\\\"), value)
        for pattern in self.patterns:
            value = pattern.sub(_mask_match, value)
        return value

    def value(self, value: Any, depth: int = 0) -> Any:
        """Mask inside nested mappings/sequences: secret keys wholly, strings by pattern."""
        if isinstance(value, str):
            return self.text(value)
        if depth > 8:
            return value
        if isinstance(value, Mapping):
            return {
                k: (
                    MASK
                    if isinstance(k, str) and self.is_sensitive_key(k)
                    else self.value(v, depth + 1)
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(v, depth + 1) for v in value]
        return value

    def mapping(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``values`` with secret keys masked and strings redacted."""
        return {k: (MASK if self.is_sensitive_key(k) else self.value(v)) for k, v in values.items()}


def _mask_match(match: re.Match[str]) -> str:
    if "value" in match.re.groupindex and match.group("value") is not None:
        start, end = match.span("value")
        whole = match.group(0)
        offset = match.start(0)
        return whole[: start - offset] + MASK + whole[end - offset :]
    return MASK
