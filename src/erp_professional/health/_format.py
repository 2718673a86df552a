"""Rendering a report: Kubernetes-style text (``[+]name ok``) and IETF health+json."""

from __future__ import annotations

from typing import Any

from ._registry import HealthReport
from ._result import CheckResult, Status

__all__ = ["HEALTH_JSON", "health_json", "probe_text"]

HEALTH_JSON = "application/health+json"
_PROBE = {"liveness": "livez", "readiness": "readyz", "startup": "startupz", None: "health"}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def probe_text(report: HealthReport, *, verbose: bool, details: bool) -> str:
    """The body of ``/livez``, ``/readyz`` or ``/startupz``.

    ``ok`` when passing and not verbose; otherwise one ``[+]name ok`` / ``[-]name failed:
    reason`` line per check (only with ``details``) and a final passed/failed line.
    """
    probe = _PROBE[report.kind]
    if report.ok and not verbose:
        return "ok"
    lines: list[str] = []
    if details:
        for name, result in report.results.items():
            lines.append(_line(name, result, report))
        lines.extend(f"[+]{name} excluded: ok" for name in report.excluded)
        if report.unknown_excluded:
            names = ", ".join(f'"{n}"' for n in report.unknown_excluded)
            lines.append(f"warn: some health checks cannot be excluded: no matches for {names}")
    lines.append(f"{probe} check {'passed' if report.ok else 'failed'}")
    return "\n".join(lines) + "\n"


def _line(name: str, result: CheckResult, report: HealthReport) -> str:
    output = _one_line(result.output) if result.output else ""
    if result.status is Status.PASS:
        return f"[+]{name} ok"
    if result.status is Status.WARN:
        return f"[+]{name} warn: {output or 'degraded'}"
    check = report.checks.get(name)
    label = "failed" if check is None or check.critical else "failed (non-critical)"
    return f"[-]{name} {label}: {output or 'no reason given'}"


def health_json(
    report: HealthReport, *, details: bool, service: dict[str, str] | None = None
) -> dict[str, Any]:
    """The IETF draft ``application/health+json`` document of ``report``.

    Without ``details`` only ``status`` is given, so an anonymous caller learns nothing
    about the dependencies.
    """
    document: dict[str, Any] = {"status": report.status.value}
    if not details:
        return document
    if service:
        document.update({k: v for k, v in service.items() if v})
    checks: dict[str, list[dict[str, Any]]] = {}
    for name, result in report.results.items():
        check = report.checks.get(name)
        if check is not None:
            key, component, component_type = check.key, check.component, check.component_type
        else:
            key, component, component_type = f"{name}:status", name, "system"
        entry: dict[str, Any] = {"componentId": component}
        if component_type:
            entry["componentType"] = component_type
        if result.observed_value is not None:
            entry["observedValue"] = result.observed_value
        if result.observed_unit:
            entry["observedUnit"] = result.observed_unit
        entry["status"] = result.status.value
        entry["time"] = result.time.isoformat().replace("+00:00", "Z")
        if result.output:
            entry["output"] = result.output
        checks.setdefault(key, []).append(entry)
    document["checks"] = checks
    if report.excluded:
        document["notes"] = [f"excluded: {', '.join(report.excluded)}"]
    return document
