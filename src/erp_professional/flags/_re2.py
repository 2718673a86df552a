"""Unleash's REGEX operator uses RE2 syntax: translate it to Python's ``re`` or refuse it.

RE2 has POSIX classes (``[[:alpha:]]``), inline flags anywhere (``^(?i)abc$``), ASCII
``\\d \\w \\s \\b`` and ``(?<name>...)`` groups; it has no lookaround, backreferences, atomic
groups or possessive quantifiers. A pattern RE2 would reject never matches.
"""

from __future__ import annotations

import re

__all__ = ["compile_re2"]

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_INLINE = re.compile(r"\(\?([a-zA-Z]+)\)")
_REFUSED = ("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?(", "(?P=", "(?#")


def _translate(pattern: str) -> tuple[str, int] | None:
    out: list[str] = []
    flags = 0
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                return None
            following = pattern[i + 1]
            if following in "123456789" and not in_class:
                return None  # backreference
            out.append("\\Z" if following == "z" else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end != -1:
                    ranges = _POSIX.get(pattern[i + 2 : end])
                    if ranges is None:
                        return None
                    out.append(ranges)
                    i = end + 2
                    continue
            if ch == "]":
                in_class = False
            elif ch == "[":
                ch = "\\["  # a literal inside a class, as in RE2
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if ch == "(" and pattern.startswith("(?", i):
            inline = _INLINE.match(pattern, i)
            if inline is not None:
                for letter in inline.group(1):
                    if letter not in _FLAGS:
                        return None
                    flags |= _FLAGS[letter]
                i = inline.end()
                continue
            if pattern.startswith(_REFUSED, i):
                return None
            if pattern.startswith("(?<", i):
                out.append("(?P<")
                i += 3
                continue
        if ch in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            return None  # possessive quantifier
        out.append(ch)
        i += 1
    if in_class:
        return None
    return "".join(out), flags


def compile_re2(pattern: str, case_insensitive: bool = False) -> re.Pattern[str] | None:
    """The Python pattern for an RE2 ``pattern``, or None when RE2 would refuse it."""
    translated = _translate(pattern)
    if translated is None:
        return None
    source, flags = translated
    flags |= re.ASCII
    if case_insensitive:
        flags |= re.IGNORECASE
    try:
        return re.compile(source, flags)
    except re.error:
        return None
