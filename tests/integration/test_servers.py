"""The examples under real servers: uvicorn for ASGI, waitress for WSGI."""

import time
from pathlib import Path

import httpx
import pytest

from .servers import serve

DJANGO = {"DJANGO_SETTINGS_MODULE": "examples.django_app.settings"}

SERVERS = {
    "fastapi-uvicorn": (
        ["uvicorn", "examples.fastapi_app:app", "--port", "{port}", "--log-level", "warning"],
        {},
    ),
    "django-asgi-uvicorn": (
        [
            "uvicorn",
            "examples.django_app.asgi:application",
            "--port",
            "{port}",
            "--log-level",
            "warning",
        ],
        DJANGO,
    ),
    "flask-waitress": (
        ["waitress", "--listen=127.0.0.1:{port}", "examples.flask_app:app"],
        {},
    ),
    "django-wsgi-waitress": (
        ["waitress", "--listen=127.0.0.1:{port}", "examples.django_app.wsgi:application"],
        DJANGO,
    ),
}


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_example_under_a_real_server(name: str) -> None:
    args, env = SERVERS[name]
    with serve(args, env) as base:
        ok = httpx.get(base + "/hello/world", headers={"X-Request-ID": "real-1"}, timeout=10)
        assert ok.status_code == 200
        assert ok.headers["x-request-id"] == "real-1"
        assert ok.json() == {"hello": "world", "request_id": "real-1"}

        generated = httpx.get(base + "/hello/world", headers={"X-Request-ID": "bad id!"})
        assert generated.headers["x-request-id"] != "bad id!"

        boom = httpx.get(base + "/boom", timeout=10)
        assert boom.status_code == 500
        assert boom.headers["content-type"] == "application/problem+json"
        assert boom.json()["request_id"] == boom.headers["x-request-id"]
        assert "never reaches" not in boom.text

        info = httpx.get(base + "/_pro/info", timeout=10)
        assert info.status_code == 200
        assert info.json()["service"].endswith("-example")


def test_demo_service_invoice_flow(tmp_path: Path) -> None:
    env = {"ERP_PRO_EVENTS__URL": f"sqlite:///{tmp_path}/demo-events.db"}
    with serve(
        ["uvicorn", "examples.erp_service.app:app", "--port", "{port}", "--log-level", "warning"],
        env,
    ) as base:
        created = httpx.post(
            base + "/invoices",
            json={
                "customer": "ACME",
                "lines": [{"description": "Widget", "quantity": 2, "unit_price": "9.50"}],
            },
            headers={"X-Request-ID": "create-1"},
            timeout=10,
        )
        assert created.status_code == 201
        invoice = created.json()
        assert invoice["total"] == "19.00"
        assert invoice["status"] == "open"
        number = invoice["id"]
        more = httpx.post(
            f"{base}/invoices/{number}/lines",
            json={"description": "Bolt", "quantity": 10, "unit_price": "0.25"},
            timeout=10,
        )
        assert more.json()["total"] == "21.50"
        listed = httpx.get(base + "/invoices", timeout=10).json()
        assert [i["id"] for i in listed] == [number]
        paid = httpx.post(f"{base}/invoices/{number}/pay", timeout=10).json()
        assert paid["status"] == "paid"
        refused = httpx.post(
            f"{base}/invoices/{number}/lines",
            json={"description": "Late", "quantity": 1, "unit_price": "1.00"},
            timeout=10,
        )
        assert refused.status_code == 409

        audit = httpx.get(f"{base}/invoices/{number}/audit", timeout=10).json()
        assert [e["type"] for e in audit] == [
            "InvoiceCreated",
            "InvoiceLineAdded",
            "InvoiceLineAdded",
            "InvoicePaid",
        ]
        assert audit[0]["correlation_id"] == "create-1"

        deadline = time.monotonic() + 10
        while not (mails := httpx.get(base + "/outbox", timeout=10).json()):
            assert time.monotonic() < deadline, "the invoice email job never ran"
            time.sleep(0.1)
        assert mails == [
            {"invoice_id": number, "to": "ACME", "subject": f"Invoice {number}: 19.00 due"}
        ]

        health = httpx.get(base + "/_pro/health", timeout=10)
        assert health.status_code == 200
        checks = health.json()["checks"]
        assert {"events:responseTime", "queue:backlog", "flags:status"} <= set(checks)

        missing = httpx.get(base + "/invoices/nope", timeout=10)
        assert missing.status_code == 404
        bad = httpx.post(base + "/invoices", json={"customer": "", "lines": []}, timeout=10)
        assert bad.status_code == 422
        assert "x-request-id" in bad.headers


def test_erp_pro_demo_command_serves_the_demo(tmp_path: Path) -> None:
    env = {"ERP_PRO_EVENTS__URL": f"sqlite:///{tmp_path}/demo-events.db"}
    with serve(["erp_professional.cli", "demo", "--port", "{port}"], env) as base:
        assert httpx.get(base + "/invoices", timeout=10).json() == []
        assert httpx.get(base + "/_pro/info", timeout=10).json()["service"] == "erp-demo"
