"""The defaults of integrate() in real frameworks: Flask (WSGI) and FastAPI (ASGI)."""

from __future__ import annotations

from typing import Any


def test_flask_defaults() -> None:
    import flask

    from erp_professional import integrate

    app = flask.Flask("sec")

    @app.route("/items", methods=["GET", "POST"])
    def items() -> Any:
        response = flask.jsonify(ok=True)
        response.headers["X-Powered-By"] = "Flask"
        return response

    pro = integrate(app)
    client = app.test_client()
    try:
        with client.get("/items") as got:
            assert got.status_code == 200
            assert got.headers["X-Frame-Options"] == "SAMEORIGIN"
            assert "X-Powered-By" not in got.headers
            assert got.headers["Content-Security-Policy"].startswith("default-src 'self'")
        with client.post("/items", headers={"Sec-Fetch-Site": "cross-site"}) as cross:
            assert cross.status_code == 403
            assert cross.headers["Content-Type"] == "application/problem+json"
        with client.post("/items", json={"a": 1}) as api_client:
            assert api_client.status_code == 200  # no browser headers: not a CSRF
        with client.post(
            "/items", data=b"[" * 100 + b"]" * 100, content_type="application/json"
        ) as deep:
            assert deep.status_code == 400
    finally:
        pro.shutdown()


def test_fastapi_defaults_and_per_route_limit() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from erp_professional import integrate
    from erp_professional.security import rate_limit

    app = FastAPI()

    @app.post("/login")
    @rate_limit("2/minute")
    async def login(payload: dict[str, str]) -> dict[str, str]:
        return {"user": payload.get("user", "")}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    integrate(app, security__rate_limit__routes={"GET /items/{item_id}": "1/minute"})
    with TestClient(app) as client:
        assert client.post("/login", json={"user": "ann"}).json() == {"user": "ann"}
        assert client.post("/login", json={"user": "ann"}).status_code == 200
        refused = client.post("/login", json={"user": "ann"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert client.get("/items/1").status_code == 200
        assert client.get("/items/2").status_code == 429  # one template, one limit
        cross = client.post("/login", json={}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403
