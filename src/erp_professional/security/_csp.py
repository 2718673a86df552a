"""Content-Security-Policy builder, validated at start-up the way helmet 8 validates it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence

__all__ = [
    "HELMET_CSP",
    "CspError",
    "ContentSecurityPolicy",
    "parse_directives",
]

DirectiveValue = Sequence[str] | str | None

HELMET_CSP: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "base-uri": ("'self'",),
    "font-src": ("'self'", "https:", "data:"),
    "form-action": ("'self'",),
    "frame-ancestors": ("'self'",),
    "img-src": ("'self'", "data:"),
    "object-src": ("'none'",),
    "script-src": ("'self'",),
    "script-src-attr": ("'none'",),
    "style-src": ("'self'", "https:", "'unsafe-inline'"),
    "upgrade-insecure-requests": (),
}
"""helmet 8's default directives, in its order."""

_SHOULD_BE_QUOTED = frozenset(
    {
        "none",
        "self",
        "strict-dynamic",
        "report-sample",
        "inline-speculation-rules",
        "unsafe-inline",
        "unsafe-eval",
        "unsafe-hashes",
        "wasm-unsafe-eval",
    }
)
_NAME = re.compile(r"^[a-z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$")
_UPPER = re.compile(r"[A-Z]")
_NONCE_TARGETS = ("script-src", "style-src")


class CspError(ValueError):
    """An invalid Content-Security-Policy setting (raised at start-up, never per request)."""


def _dashify(name: str) -> str:
    return _UPPER.sub(lambda m: "-" + m.group(0).lower(), name)


def _check_entry(directive: str, entry: str) -> None:
    if not isinstance(entry, str):
        raise CspError(f"Content-Security-Policy {directive!r} has a non-string value {entry!r}")
    if ";" in entry or "," in entry:
        raise CspError(
            f"Content-Security-Policy received an invalid directive value for {directive!r}: "
            f"{entry!r} contains ';' or ','"
        )
    if entry in _SHOULD_BE_QUOTED or entry.startswith(("nonce-", "sha256-", "sha384-", "sha512-")):
        raise CspError(
            f"Content-Security-Policy received an invalid directive value for {directive!r}: "
            f"{entry!r} should be quoted (\"'{entry}'\")"
        )
    if not entry.isascii() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in entry):
        raise CspError(
            f"Content-Security-Policy {directive!r} value {entry!r} must be printable ASCII "
            "(write international domain names in punycode)"
        )


def parse_directives(
    directives: Mapping[str, DirectiveValue],
    *,
    use_defaults: bool = True,
    defaults: Mapping[str, Sequence[str]] = HELMET_CSP,
) -> dict[str, tuple[str, ...]]:
    """Merge ``directives`` over ``defaults`` and validate like helmet.

    Names may be kebab-case or camelCase; a ``None`` value removes a directive; a string
    is one entry. Unquoted keywords (``self``), ``;`` or ``,`` inside values, duplicates,
    an empty policy and a missing ``default-src`` are errors.
    """
    result: dict[str, tuple[str, ...]] = (
        {k: tuple(v) for k, v in defaults.items()} if use_defaults else {}
    )
    seen: set[str] = set()
    for raw_name, raw_value in directives.items():
        if not isinstance(raw_name, str) or not _NAME.fullmatch(raw_name):
            raise CspError(
                f"Content-Security-Policy received an invalid directive name {raw_name!r}"
            )
        name = _dashify(raw_name)
        if name in seen:
            raise CspError(f"Content-Security-Policy received a duplicate directive {name!r}")
        seen.add(name)
        if raw_value is None:
            if name == "default-src":
                raise CspError("Content-Security-Policy needs a default-src but it was set to None")
            result.pop(name, None)
            continue
        value = (raw_value,) if isinstance(raw_value, str) else tuple(raw_value)
        for entry in value:
            _check_entry(name, entry)
        result[name] = value
    if not result:
        raise CspError("Content-Security-Policy has no directives: set some or switch CSP off")
    if "default-src" not in result:
        raise CspError("Content-Security-Policy needs a default-src but none was provided")
    return result


def _render(directives: Mapping[str, Sequence[str]], separator: str = ";") -> str:
    return separator.join(
        f"{name} {' '.join(value)}" if value else name for name, value in directives.items()
    )


class ContentSecurityPolicy:
    """A validated policy, rendered once; with ``nonce`` a fresh nonce per request.

    >>> csp = ContentSecurityPolicy({"script-src": ["'self'", "cdn.example.com"]})
    >>> csp.header_name
    'Content-Security-Policy'
    """

    __slots__ = ("_parts", "directives", "header_name", "nonce", "separator", "static")

    def __init__(
        self,
        directives: Mapping[str, DirectiveValue] | None = None,
        *,
        use_defaults: bool = True,
        defaults: Mapping[str, Sequence[str]] = HELMET_CSP,
        report_only: bool = False,
        nonce: bool = False,
        separator: str = ";",
    ) -> None:
        if separator.strip() != ";":
            raise CspError(f"a CSP separator is ';' with optional spaces, not {separator!r}")
        self.separator = separator
        self.directives = parse_directives(
            directives or {}, use_defaults=use_defaults, defaults=defaults
        )
        self.header_name = (
            "Content-Security-Policy-Report-Only" if report_only else "Content-Security-Policy"
        )
        self.nonce = nonce
        self.static = _render(self.directives, separator)
        if nonce:
            with_marker = {
                name: (*value, "'nonce-\x00'") if name in _NONCE_TARGETS else value
                for name, value in self.directives.items()
            }
            if not any(name in self.directives for name in _NONCE_TARGETS):
                with_marker["script-src"] = (*self.directives["default-src"], "'nonce-\x00'")
            self._parts = tuple(_render(with_marker, separator).split("\x00"))
        else:
            self._parts = (self.static,)

    @staticmethod
    def new_nonce() -> str:
        """A fresh 128-bit nonce (base64url, no padding)."""
        return secrets.token_urlsafe(16)

    def render(self, nonce: str | None = None) -> str:
        """The header value; ``nonce`` is required when the policy uses nonces."""
        if not self.nonce:
            return self.static
        if nonce is None:
            raise CspError("this policy uses nonces: pass the request's nonce")
        return nonce.join(self._parts)

    def with_changes(self, changes: Mapping[str, DirectiveValue]) -> ContentSecurityPolicy:
        """A new policy: these directives changed on top of this one (per-route overrides)."""
        return ContentSecurityPolicy(
            {**{k: list(v) for k, v in self.directives.items() if k not in changes}, **changes},
            use_defaults=False,
            report_only=self.header_name.endswith("Report-Only"),
            nonce=self.nonce,
            separator=self.separator,
        )
