"""A pattern detector for SQL injection and XSS probes in paths, queries and headers.

It is a tripwire, not a defence: parameterised SQL and output encoding are the defence.
Report-only by default; its false-positive rate on a benign corpus is measured by the
test suite and stated in the documentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal
from urllib.parse import parse_qsl, unquote

from pydantic import AfterValidator

from ..web import Concern, Exchange, Response, problem
from ._routes import RouteSet
from ._util import count, log, safe_for_log

__all__ = ["Finding", "InjectionConcern", "InjectionDetector", "NoInjection", "detect_injection"]

Target = Literal["path", "query", "headers"]

_SQL = {
    "sql.union": r"\bunion(?:\s+all|\s+distinct)?\s+select\b",
    "sql.tautology": (
        r"['\"`)]\s*(?:or|and|\|\||&&)\s*\(?\s*(?:['\"`][^'\"`]{0,40}['\"`]|\w+)\s*"
        r"(?:=|<>|!=|like\b|>|<)"
    ),
    "sql.numeric_tautology": r"\b(?:or|and)\s+(\d+)\s*=\s*\1\b",
    "sql.stacked": (
        r";\s*(?:drop|delete|insert|update|alter|create|truncate|exec|execute|shutdown|declare)"
        r"\s+\w"
    ),
    "sql.time": r"\b(?:sleep|pg_sleep|benchmark)\s*\(\s*\d|\bwaitfor\s+delay\s+['\"]",
    "sql.catalog": (
        r"\binformation_schema\b|\bpg_catalog\.|\bsqlite_master\b"
        r"|\bsys\.(?:objects|tables|columns)\b|\bmysql\.user\b"
    ),
    "sql.comment_after_quote": r"['\"`]\)*(?:--|/\*)|['\"`]\)*\s*#(?:\s|$)",
    "sql.order_probe": r"['\"`)]\s*(?:order|group)\s+by\s+\d+",
    "sql.procedure": r"\b(?:xp_cmdshell|sp_executesql|sp_oacreate)\b",
    "sql.char_concat": r"\b(?:char|chr)\s*\(\s*\d+\s*\)\s*(?:\+|\|\|)",
    "sql.load_file": r"\b(?:load_file|into\s+(?:out|dump)file)\b",
}
_XSS = {
    "xss.script": r"<\s*/?\s*script\b",
    "xss.event_handler": r"<[^>]*\bon[a-z]{3,30}\s*=",
    "xss.js_url": r"\b(?:javascript|vbscript|livescript)\s*:",
    "xss.data_html": r"\bdata\s*:\s*text/html",
    "xss.dangerous_tag": r"<\s*(?:iframe|frame|object|embed|applet|meta|base|svg|math|template)\b",
    "xss.dom": r"\bdocument\s*\.\s*(?:cookie|domain|write)\b|\bwindow\s*\.\s*location\b",
    "xss.css_expression": r"\bexpression\s*\(",
    "xss.srcdoc": r"\bsrcdoc\s*=",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that matched: ``kind`` is ``sql`` or ``xss``; ``where`` names the input."""

    rule: str
    where: str

    @property
    def kind(self) -> str:
        return self.rule.split(".", 1)[0]


_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_SPACE = re.compile(r"\s+")


def _canonical(value: str) -> str:
    text = value
    for _ in range(2):  # undo single and double URL encoding
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    text = text.replace("\x00", "")
    text = _COMMENT.sub(" ", text)
    return _SPACE.sub(" ", text).lower()


class InjectionDetector:
    """Matches SQL-injection and XSS probe patterns; :meth:`scan` returns the findings."""

    def __init__(self, kinds: Iterable[str] = ("sql", "xss"), max_length: int = 8192) -> None:
        chosen = set(kinds)
        rules = {**(_SQL if "sql" in chosen else {}), **(_XSS if "xss" in chosen else {})}
        self.rules = tuple((name, re.compile(pattern)) for name, pattern in rules.items())
        self.max_length = max_length

    def scan(self, value: str, where: str = "value") -> list[Finding]:
        if not value:
            return []
        text = _canonical(value[: self.max_length])
        return [Finding(name, where) for name, rx in self.rules if rx.search(text)]

    def scan_exchange(self, exchange: Exchange, targets: Sequence[Target]) -> list[Finding]:
        findings: list[Finding] = []
        if "path" in targets:
            findings += self.scan(exchange.path, "path")
        if "query" in targets and exchange.query_string:
            query = exchange.query_string[: self.max_length]
            for key, value in parse_qsl(query, keep_blank_values=True):
                findings += self.scan(value, f"query:{key[:40]}")
                findings += self.scan(key, "query key")
        if "headers" in targets:
            for name, value in exchange.headers.items():
                if name in ("cookie", "authorization", "x-api-key"):
                    continue
                findings += self.scan(value, f"header:{name}")
        return findings


_DEFAULT = InjectionDetector()


def detect_injection(value: str) -> list[Finding]:
    """The SQLi/XSS findings of the default detector for one string."""
    return _DEFAULT.scan(value)


def _no_injection(value: str) -> str:
    findings = _DEFAULT.scan(value)
    if findings:
        raise ValueError(f"looks like an injection attempt ({findings[0].rule})")
    return value


NoInjection = Annotated[str, AfterValidator(_no_injection)]
"""A pydantic field type refusing strings the detector flags (use where false positives
are acceptable: identifiers, search terms, never free text such as comments)."""


class InjectionConcern(Concern):
    """Logs and counts suspicious requests (``report``), or answers 400 (``block``)."""

    name: ClassVar[str] = "security.injection"
    order: ClassVar[int] = 140

    def __init__(
        self,
        detector: InjectionDetector | None = None,
        *,
        mode: Literal["report", "block"] = "report",
        targets: Sequence[Target] = ("path", "query"),
        exempt: Iterable[str] = (),
    ) -> None:
        self.detector = detector or _DEFAULT
        self.mode = mode
        self.targets = tuple(targets)
        self.exempt = RouteSet(exempt)

    def on_request(self, exchange: Exchange) -> Response | None:
        if self.exempt and self.exempt.matches(exchange):
            return None
        findings = self.detector.scan_exchange(exchange, self.targets)
        if not findings:
            return None
        exchange.state["injection_findings"] = findings
        rules = sorted({f.rule for f in findings})
        for rule in rules:
            count("injection.detected", rule=rule, mode=self.mode)
        log.warning(
            "possible injection in %s %s: %s",
            exchange.method,
            safe_for_log(exchange.path),
            ", ".join(f"{f.rule}@{safe_for_log(f.where, 50)}" for f in findings[:5]),
            extra={"request_id": exchange.request_id},
        )
        if self.mode == "report":
            return None
        return problem(
            400,
            "The request looks like an injection attempt.",
            title="Suspicious input",
            request_id=exchange.request_id,
            rules=rules,
        )
