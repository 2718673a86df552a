from __future__ import annotations

import json
from typing import Any

import pytest

from erp_professional import integrate
from erp_professional.security import BodyGuard, json_depth_exceeds

from ._apps import Factory, asgi_call, asgi_echo, wsgi_call, wsgi_echo

JSON = {"Content-Type": "application/json"}


def test_content_length_over_default_limit_is_413_before_the_app(make: Factory) -> None:
    client = make()
    big = b"x" * (10 * 1024 * 1024 + 1)
    result = client.request("POST", "/", headers={"Content-Type": "text/plain"}, body=big)
    assert result.status == 413
    assert result.json()["status"] == 413


def test_small_body_reaches_the_app(make: Factory) -> None:
    result = make().request("POST", "/", headers={"Content-Type": "text/plain"}, body=b"hello")
    assert result.status == 200 and result.json()["received"] == "hello"


def test_invalid_content_length_is_400(make: Factory) -> None:
    client = make()
    if client.kind == "wsgi":
        result = wsgi_call(client.pro, "POST", headers=[("Content-Length", "12abc")], body=b"")
    else:
        result = asgi_call(client.pro, "POST", headers=[("Content-Length", "-5")])
    assert result.status == 400


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_streamed_body_without_length_is_counted(kind: str) -> None:
    pro = integrate(asgi_echo() if kind == "asgi" else wsgi_echo(), security__body__max_bytes=100)
    try:
        if kind == "asgi":
            result = asgi_call(
                pro, "POST", headers=[("Transfer-Encoding", "chunked")], body=b"x" * 500
            )
        else:
            result = wsgi_call(
                pro,
                "POST",
                headers=[("Transfer-Encoding", "chunked")],
                body=b"x" * 500,
                send_length=False,
            )
        assert result.status == 413
        assert json.loads(result.body)["title"] == "Content Too Large"
    finally:
        pro.shutdown()


def test_content_type_allowlist(make: Factory) -> None:
    client = make(security__body__content_types=["application/json", "text/*"])
    assert client.request("POST", "/", headers=JSON, body=b"{}").status == 200
    assert (
        client.request("POST", "/", headers={"Content-Type": "text/csv"}, body=b"a,b").status == 200
    )
    rejected = client.request(
        "POST", "/", headers={"Content-Type": "application/xml"}, body=b"<a/>"
    )
    assert rejected.status == 415
    assert rejected.json()["accepted"] == ["application/json", "text/*"]
    assert client.request("POST", "/", body=b"raw").status == 415
    assert client.request("POST", "/").status == 200  # no body, nothing to type


def test_json_depth_and_size_under_wsgi_keep_the_body() -> None:
    from ._apps import make_client

    client = make_client(
        "wsgi", security__body__json_max_depth=3, security__body__json_max_bytes=50
    )
    try:
        ok = client.request("POST", "/", headers=JSON, body=b'{"a": [1, {"b": 2}]}')
        assert ok.status == 200 and ok.json()["received"] == '{"a": [1, {"b": 2}]}'
        deep = client.request("POST", "/", headers=JSON, body=b"[[[[1]]]]")
        assert deep.status == 400 and deep.json()["title"] == "JSON body too deep"
        big = client.request("POST", "/", headers=JSON, body=b'["' + b"x" * 60 + b'"]')
        assert big.status == 400 and big.json()["title"] == "JSON body too large"
    finally:
        client.close()


def test_json_checks_under_starlette_keep_the_body() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"data": await request.json()})

    app = Starlette(
        routes=[Route("/items", echo, methods=["POST"]), Route("/raw", echo, methods=["POST"])]
    )
    integrate(
        app,
        security__body__json_max_depth=3,
        security__body__routes={"/raw": {"json_max_depth": 10}},
    )
    with TestClient(app) as client:
        ok = client.post("/items", content=b'{"a": [1, 2]}', headers=JSON)
        assert ok.status_code == 200 and ok.json() == {"data": {"a": [1, 2]}}
        deep = client.post("/items", content=b'[[[["x"]]]]', headers=JSON)
        assert deep.status_code == 400
        assert deep.headers["content-type"] == "application/problem+json"
        assert deep.headers["x-frame-options"] == "SAMEORIGIN"
        assert client.post("/raw", content=b'[[[["x"]]]]', headers=JSON).status_code == 200


@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "plain"])
def test_bare_asgi_app_gets_json_limits(wrapped: bool) -> None:
    app = asgi_echo()
    pro = integrate(BodyGuard(app) if wrapped else app, security__body__json_max_depth=2)
    try:
        ok = asgi_call(
            pro,
            "POST",
            headers=[("Content-Type", "application/json"), ("Content-Length", "7")],
            body=b'{"a":1}',
        )
        assert ok.status == 200 and json.loads(ok.body)["received"] == '{"a":1}'
        deep = asgi_call(
            pro,
            "POST",
            headers=[("Content-Type", "application/json"), ("Content-Length", "7")],
            body=b"[[[1]]]",
        )
        assert deep.status == 400
        assert "x-request-id" in deep.headers
    finally:
        pro.shutdown()


def test_per_route_body_limit(make: Factory) -> None:
    client = make(
        security__body__max_bytes=1000,
        security__body__routes={
            "POST /upload": {"max_bytes": 5000, "content_types": ["application/octet-stream"]}
        },
    )
    blob = {"Content-Type": "application/octet-stream"}
    assert client.request("POST", "/upload", headers=blob, body=b"x" * 3000).status == 200
    assert client.request("POST", "/other", headers=blob, body=b"x" * 3000).status == 413
    assert client.request("POST", "/upload", headers=JSON, body=b"{}").status == 415


def test_limit_off(make: Factory) -> None:
    client = make(security__body__max_bytes=None)
    assert (
        client.request(
            "POST", "/", headers={"Content-Type": "text/plain"}, body=b"x" * 20000
        ).status
        == 200
    )


@pytest.mark.parametrize(
    ("text", "depth", "expected"),
    [
        (b"[]", 1, False),
        (b"[[]]", 1, True),
        (b'{"a": "[[[[[["}', 1, False),
        (b'["\\"[[[["]', 1, False),
        (b'{"a": {"b": {"c": 1}}}', 3, False),
        (b'{"a": {"b": {"c": {}}}}', 3, True),
    ],
)
def test_json_depth_scanner(text: bytes, depth: int, expected: bool) -> None:
    assert json_depth_exceeds(text, depth) is expected


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_scanner_matches_real_depth() -> None:
    for depth in range(1, 30):
        data = json.dumps(_nest(depth)).encode()
        assert json_depth_exceeds(data, depth) is False
        assert json_depth_exceeds(data, depth - 1) is True
