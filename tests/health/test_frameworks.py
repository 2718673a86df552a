"""The probes inside real FastAPI and Flask apps, and the public surface."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask

import erp_professional.health as health
from erp_professional import integrate
from erp_professional.health import CheckResult, HealthRegistry

from ..integrations.apps import FACTORIES, Client
from .conftest import QUIET


def test_public_names() -> None:
    assert health.__all__ == sorted(health.__all__, key=lambda n: (not n.isupper(), n))
    for name in health.__all__:
        assert hasattr(health, name), name
    assert "HealthRegistry" in health.__all__


def test_fastapi_app_keeps_its_routes_and_gets_probes() -> None:
    app = FastAPI()

    @app.get("/orders")
    def orders() -> list[int]:
        return [1, 2]

    pro = integrate(app, **QUIET)
    registry = pro.health
    assert isinstance(registry, HealthRegistry)
    registry.register("db:responseTime", lambda: CheckResult.ok(3.2, "ms"))
    with TestClient(app) as client:
        assert client.get("/orders").json() == [1, 2]
        assert client.get("/_pro/livez").text == "ok"
        ready = client.get("/_pro/readyz?verbose")
        assert ready.status_code == 200 and "[+]db:responseTime ok" in ready.text
        doc = client.get("/_pro/health").json()
        assert doc["checks"]["db:responseTime"][0]["observedValue"] == 3.2
        pro.begin_shutdown()
        assert client.get("/_pro/readyz").status_code == 503
        assert client.get("/_pro/livez").status_code == 200


def test_flask_app_keeps_its_routes_and_gets_probes() -> None:
    app = Flask("health-test")

    @app.get("/orders")
    def orders() -> list[int]:
        return [1, 2]

    pro = integrate(app, **QUIET)
    pro.health.register("db", lambda: CheckResult.fail("no connection"))  # type: ignore[attr-defined]
    client = app.test_client()
    assert client.get("/orders").get_json() == [1, 2]
    assert client.get("/_pro/livez").status_code == 200
    ready = client.get("/_pro/readyz")
    assert ready.status_code == 503
    assert "[-]db failed: no connection" in ready.get_data(as_text=True)
    doc = json.loads(client.get("/_pro/health").get_data(as_text=True))
    assert doc["status"] == "fail"
    pro.shutdown()


@pytest.mark.parametrize("framework", sorted(FACTORIES))
def test_probes_in_every_supported_framework(framework: str) -> None:
    app, pro, kind = FACTORIES[framework]()
    client = Client(app, kind)
    try:
        registry = pro.health
        assert isinstance(registry, HealthRegistry)
        registry.register("orders-db", lambda: CheckResult.ok(2.0, "ms"))
        assert client.get("/_pro/livez").body == b"ok"
        ready = client.get("/_pro/readyz?verbose")
        assert ready.status == 200
        assert b"[+]orders-db ok" in ready.body
        health_doc = client.get("/_pro/health")
        assert health_doc.headers["content-type"] == "application/health+json"
        assert health_doc.json()["checks"]["orders-db:status"][0]["observedValue"] == 2.0
        pro.begin_shutdown()
        assert client.get("/_pro/readyz").status == 503
        assert client.get("/_pro/livez").status == 200
    finally:
        client.close()
        pro.shutdown()
