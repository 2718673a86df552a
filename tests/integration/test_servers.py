"""The examples under real servers: uvicorn for ASGI, waitress for WSGI."""

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


def test_demo_service_invoice_flow() -> None:
    with serve(
        ["uvicorn", "examples.erp_service.app:app", "--port", "{port}", "--log-level", "warning"]
    ) as base:
        created = httpx.post(
            base + "/invoices",
            json={
                "customer": "ACME",
                "lines": [{"description": "Widget", "quantity": 2, "unit_price": "9.50"}],
            },
            timeout=10,
        )
        assert created.status_code == 201
        invoice = created.json()
        assert invoice["total"] == "19.00"
        assert invoice["status"] == "open"
        listed = httpx.get(base + "/invoices", timeout=10).json()
        assert [i["id"] for i in listed] == [invoice["id"]]
        paid = httpx.post(f"{base}/invoices/{invoice['id']}/pay", timeout=10).json()
        assert paid["status"] == "paid"
        missing = httpx.get(base + "/invoices/999", timeout=10)
        assert missing.status_code == 404
        bad = httpx.post(base + "/invoices", json={"customer": "", "lines": []}, timeout=10)
        assert bad.status_code == 422
        assert "x-request-id" in bad.headers


def test_erp_pro_demo_command_serves_the_demo() -> None:
    with serve(["erp_professional.cli", "demo", "--port", "{port}"]) as base:
        assert httpx.get(base + "/invoices", timeout=10).json() == []
        assert httpx.get(base + "/_pro/info", timeout=10).json()["service"] == "erp-demo"
