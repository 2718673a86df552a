"""Input hygiene: allowlist HTML sanitising (nh3), text normalisation, pydantic helpers."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

__all__ = [
    "SafeHtml",
    "SafeText",
    "normalize_text",
    "sanitize_html",
]

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _nh3() -> Any:
    try:
        import nh3
    except ImportError:
        from ..connections import MissingDependencyError

        raise MissingDependencyError("nh3", "security", "sanitize_html") from None
    return nh3


def sanitize_html(
    html: str,
    *,
    tags: Iterable[str] | None = None,
    attributes: Mapping[str, Iterable[str]] | None = None,
    url_schemes: Iterable[str] | None = None,
    strip_comments: bool = True,
    link_rel: str | None = "noopener noreferrer",
) -> str:
    """Keep only allowlisted tags, attributes and URL schemes (nh3/ammonia).

    The defaults are ammonia's: formatting and structure tags, no scripts, no event
    handlers, no ``javascript:`` URLs, ``rel="noopener noreferrer"`` on links. Pass
    ``tags``/``attributes``/``url_schemes`` to narrow or widen the allowlist.
    """
    if not isinstance(html, str):
        raise TypeError(f"sanitize_html expects str, not {type(html).__name__}")
    nh3 = _nh3()
    options: dict[str, Any] = {"strip_comments": strip_comments, "link_rel": link_rel}
    if tags is not None:
        options["tags"] = set(tags)
    if attributes is not None:
        options["attributes"] = {k: set(v) for k, v in attributes.items()}
    if url_schemes is not None:
        options["url_schemes"] = set(url_schemes)
    text = html.replace("\x00", "")
    cleaned: str = nh3.clean(text, **options)
    return cleaned


def normalize_text(
    text: str,
    *,
    form: Literal["NFC", "NFD", "NFKC", "NFKD"] = "NFKC",
    keep: str = "\n\t",
    strip_bidi: bool = True,
    strip: bool = False,
) -> str:
    """Unicode ``form`` normalisation (NFKC by default) with control characters removed.

    Removes NUL and every other C0/C1 control character except those in ``keep``
    (newline and tab by default), lone surrogates, and — with ``strip_bidi`` — the
    bidirectional override/isolate characters used to disguise text ("Trojan Source").
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_text expects str, not {type(text).__name__}")
    if form not in ("NFC", "NFD", "NFKC", "NFKD"):
        raise ValueError(f"unknown normalisation form {form!r}")
    normalised = unicodedata.normalize(form, text)
    out = []
    for ch in normalised:
        if ch in keep:
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category == "Cc" or category == "Cs":
            continue
        if strip_bidi and ch in _BIDI_CONTROLS:
            continue
        out.append(ch)
    result = "".join(out)
    return result.strip() if strip else result


def _safe_text(value: str) -> str:
    return normalize_text(value)


def _safe_html(value: str) -> str:
    return sanitize_html(normalize_text(value))


SafeText = Annotated[str, AfterValidator(_safe_text)]
"""A pydantic field type: NFKC-normalised text without control characters."""

SafeHtml = Annotated[str, AfterValidator(_safe_html)]
"""A pydantic field type: normalised, then sanitised to allowlisted HTML."""
