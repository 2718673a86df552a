"""REGEX follows RE2, the syntax Unleash validates patterns with."""

from __future__ import annotations

import pytest

from erp_professional.flags import FeatureFlags
from erp_professional.flags._re2 import compile_re2


def _flags(pattern: str, **extra: object) -> FeatureFlags:
    constraint = {"contextName": "userId", "operator": "REGEX", "value": pattern, **extra}
    return FeatureFlags.from_unleash(
        {
            "features": [
                {
                    "name": "r",
                    "enabled": True,
                    "strategies": [{"name": "default", "constraints": [constraint]}],
                }
            ]
        }
    )


@pytest.mark.parametrize(
    ("pattern", "user", "expected"),
    [
        (r"^[[:upper:]][[:lower:]]+$", "Oslo", True),
        (r"^[[:upper:]][[:lower:]]+$", "oslo", False),
        (r"^[[:digit:][:punct:]]+$", "12-34!", True),
        (r"^[[:xdigit:]]{6}$", "00ffAA", True),
        (r"^[[:xdigit:]]{6}$", "00ffAG", False),
        (r"^id-(?i)ab$", "id-AB", True),  # inline flag after the start
        (r"(?s)^x.y$", "x\ny", True),
        (r"(?m)^end$", "a\nend\nb", True),
        (r"^\d+$", "٣٣", False),  # \d is ASCII in RE2
        (r"\bdog\b", "hotdogs", False),
        (r"\bdog\b", "a dog!", True),
        (r"^(?<word>[a-z]+)$", "abc", True),  # RE2 named group syntax
        (r"^ab\z", "ab", True),
        (r"^(?=a)a$", "a", False),  # lookahead: refused by RE2
        (r"^(x)\1$", "xx", False),  # backreference: refused
        (r"^a++$", "aa", False),  # possessive: refused
        (r"^(?>a)$", "a", False),  # atomic group: refused
        (r"[[:nope:]]", "a", False),  # unknown class
        (r"(unclosed", "(unclosed", False),
        (r"^[]a]+$", "]a]", True),  # ']' first in a class is a literal
    ],
)
def test_re2_semantics(pattern: str, user: str, expected: bool) -> None:
    assert _flags(pattern).is_enabled("r", {"userId": user}) is expected


def test_case_insensitive_and_inverted() -> None:
    assert _flags("^abc$", caseInsensitive=True).is_enabled("r", {"userId": "aBc"})
    assert not _flags("^abc$").is_enabled("r", {"userId": "aBc"})
    inverted = _flags("^abc$", inverted=True)
    assert inverted.is_enabled("r", {"userId": "xyz"})
    assert not inverted.is_enabled("r", {"userId": "abc"})
    # an invalid or refused pattern disables the rule, inverted or not
    assert not _flags("^(a)\\1$", inverted=True).is_enabled("r", {"userId": "aa"})
    assert not _flags("(unclosed", inverted=True).is_enabled("r", {"userId": "x"})


def test_translation_refuses_what_re2_refuses() -> None:
    assert compile_re2("(?U)a+") is None
    assert compile_re2("a\\") is None
    assert compile_re2("[abc") is None
    compiled = compile_re2("[[:alpha:]]+")
    assert compiled is not None and compiled.fullmatch("Zebra")


def test_in_and_not_in_case_insensitive() -> None:
    def flag(op: str, inverted: bool = False) -> FeatureFlags:
        c = {
            "contextName": "plan",
            "operator": op,
            "values": ["Pro", "team-[eu]"],
            "caseInsensitive": True,
            "inverted": inverted,
        }
        return FeatureFlags.from_unleash(
            {
                "features": [
                    {
                        "name": "p",
                        "enabled": True,
                        "strategies": [{"name": "default", "constraints": [c]}],
                    }
                ]
            }
        )

    assert flag("IN").is_enabled("p", {"plan": "PRO"})
    assert flag("IN").is_enabled("p", {"properties": {"plan": "TEAM-[EU]"}})
    assert not flag("IN").is_enabled("p", {"plan": "free"})
    assert not flag("IN", inverted=True).is_enabled("p", {"plan": "pro"})
    assert not flag("NOT_IN").is_enabled("p", {"plan": "pRo"})
    assert flag("NOT_IN", inverted=True).is_enabled("p", {"plan": "PRO"})
    assert flag("NOT_IN").is_enabled("p", {})
