"""Every security decision is counted (the OpenTelemetry counter) and keys stay out of logs."""

from __future__ import annotations

from typing import Any

import pytest

from erp_professional import integrate
from erp_professional.security import _util

from ._apps import asgi_call, asgi_echo


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, amount: int, attributes: dict[str, Any]) -> None:
        self.events.append(dict(attributes))

    def names(self) -> set[str]:
        return {e["event"] for e in self.events}


def test_decisions_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(_util, "_events", recorder)
    pro = integrate(
        asgi_echo(),
        security__rate_limit__routes={"/limited": "1/minute"},
        security__cors__allow_origins=["https://app.example.com"],
        security__injection__enabled=True,
        security__api_keys__enabled=True,
        security__body__max_bytes=10,
    )
    try:
        asgi_call(pro, "POST", headers=[("Sec-Fetch-Site", "cross-site")])
        asgi_call(pro, "POST", headers=[("Content-Length", "100")], body=b"x" * 100)
        asgi_call(pro, path="/limited")
        asgi_call(pro, path="/limited")
        asgi_call(
            pro,
            "OPTIONS",
            headers=[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")],
        )
        asgi_call(pro, headers=[("X-API-Key", "erp_nope")])
        asgi_call(pro, query="q=%3Cscript%3E")
    finally:
        pro.shutdown()
    assert {
        "csrf.rejected",
        "body.rejected",
        "ratelimit.rejected",
        "cors.rejected",
        "apikey.rejected",
        "injection.detected",
    } <= recorder.names()
    body = next(e for e in recorder.events if e["event"] == "body.rejected")
    assert body["status"] == "413"


def test_storage_errors_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(_util, "_events", recorder)
    pro = integrate(
        asgi_echo(),
        security__rate_limit__default="5/minute",
        security__rate_limit__storage_url="redis://127.0.0.1:9/0",
    )
    try:
        assert asgi_call(pro).status == 200
    finally:
        pro.shutdown()
    assert {"event": "ratelimit.storage_error", "policy": "open"} in recorder.events
