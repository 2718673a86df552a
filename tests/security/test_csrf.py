from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.config import ConfigError, load_config
from erp_professional.security import CsrfProtection, CsrfTokens
from erp_professional.web import Exchange, Pipeline

from ._apps import Factory

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_cross_site_post_rejected_with_problem(make: Factory) -> None:
    client = make()
    result = client.request(
        "POST", "/transfer", headers={"Sec-Fetch-Site": "cross-site", **FORM}, body=b"a=1"
    )
    assert result.status == 403
    assert result.headers["content-type"] == "application/problem+json"
    assert result.json()["title"] == "Cross-site request rejected"
    assert "Sec-Fetch-Site" in result.headers["vary"]


@pytest.mark.parametrize("site", ["same-site", "cross-site", "anything-else"])
def test_every_other_fetch_site_is_rejected(make: Factory, site: str) -> None:
    assert make().request("POST", "/", headers={"Sec-Fetch-Site": site}).status == 403


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_same_origin_and_user_initiated_pass(make: Factory, site: str) -> None:
    result = make().request("POST", "/", headers={"Sec-Fetch-Site": site}, body=b"x")
    assert result.status == 200
    assert result.json()["received"] == "x"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_pass(make: Factory, method: str) -> None:
    result = make().request(method, "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert result.status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_non_browser_clients_pass(make: Factory, method: str) -> None:
    assert make().request(method, "/api").status == 200


def test_old_browser_origin_compared_with_host(make: Factory) -> None:
    client = make()
    same = client.request("POST", "/", headers={"Origin": "http://testserver"})
    assert same.status == 200
    other = client.request("POST", "/", headers={"Origin": "https://evil.example"})
    assert other.status == 403
    assert "Origin" in other.json()["detail"]


def test_trusted_origin_accepted(make: Factory) -> None:
    client = make(security__csrf__trusted_origins=["https://app.example.com"])
    for headers in (
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example.com"},
        {"Origin": "https://APP.example.com"},
    ):
        assert client.request("POST", "/", headers=headers).status == 200
    denied = client.request(
        "POST", "/", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    )
    assert denied.status == 403


def test_bypass_patterns(make: Factory) -> None:
    client = make(security__csrf__bypass=["/webhooks/*", "PUT /items/{id}"])
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert client.request("POST", "/webhooks/stripe", headers=cross).status == 200
    assert client.request("PUT", "/items/7", headers=cross).status == 200
    assert client.request("POST", "/items/7", headers=cross).status == 403
    assert client.request("PUT", "/items/7/extra", headers=cross).status == 403


def test_report_only_lets_through(make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    client = make(security__csrf__report_only=True)
    with caplog.at_level("WARNING", logger="erp_professional.security"):
        result = client.request("POST", "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert result.status == 200
    assert any("CSRF report" in r.getMessage() for r in caplog.records)


def test_disabled(make: Factory) -> None:
    client = make(security__csrf__enabled=False)
    assert client.request("POST", "/", headers={"Sec-Fetch-Site": "cross-site"}).status == 200


def test_trusted_origins_validated() -> None:
    for bad in ("https://a.example/path", "app.example.com", "null", "ftp://x"):
        with pytest.raises(ConfigError, match="trusted_origins"):
            load_config(security__csrf__trusted_origins=[bad])


SECRET = "s" * 32


def _token_client(make: Factory) -> object:
    return make(security__csrf__token=True, security__csrf__secret=SECRET)


def test_token_issued_on_get_and_required_with_session(make: Factory) -> None:
    client = make(security__csrf__token=True, security__csrf__secret=SECRET)
    first = client.request("GET", "/", headers={"Cookie": "session=abc"})
    cookie = first.headers["set-cookie"]
    token = cookie.split(";")[0].split("=", 1)[1]
    assert "Cookie" in first.headers["vary"]
    assert CsrfTokens(SECRET).verify(token, "abc")
    jar = {"Cookie": f"session=abc; csrftoken={token}"}
    ok = client.request("POST", "/", headers={**jar, "X-CSRF-Token": token})
    assert ok.status == 200
    missing = client.request("POST", "/", headers=jar)
    assert missing.status == 403 and missing.json()["detail"] == "missing CSRF token"
    # A token made for another session does not verify.
    other = CsrfTokens(SECRET).issue("someone-else")
    forged = client.request(
        "POST",
        "/",
        headers={"Cookie": f"session=abc; csrftoken={other}", "X-CSRF-Token": other},
    )
    assert forged.status == 403 and forged.json()["detail"] == "invalid CSRF token"
    # Header and cookie must agree.
    mismatch = client.request(
        "POST", "/", headers={**jar, "X-CSRF-Token": CsrfTokens(SECRET).issue("abc")}
    )
    assert mismatch.status == 403


def test_token_not_needed_without_a_session_cookie(make: Factory) -> None:
    client = make(security__csrf__token=True, security__csrf__secret=SECRET)
    assert client.request("POST", "/api").status == 200


def test_valid_cookie_token_is_not_reissued(make: Factory) -> None:
    client = make(security__csrf__token=True, security__csrf__secret=SECRET)
    token = CsrfTokens(SECRET).issue("abc")
    result = client.request("GET", "/", headers={"Cookie": f"session=abc; csrftoken={token}"})
    assert "set-cookie" not in result.headers


def test_form_field_token_under_wsgi_keeps_body_for_app() -> None:
    from ._apps import make_client

    client = make_client("wsgi", security__csrf__token=True, security__csrf__secret=SECRET)
    try:
        token = CsrfTokens(SECRET).issue("abc")
        body = f"amount=5&csrf_token={token}".encode()
        result = client.request(
            "POST", "/", headers={"Cookie": f"session=abc; csrftoken={token}", **FORM}, body=body
        )
        assert result.status == 200
        assert result.json()["received"] == body.decode()
    finally:
        client.close()


def test_token_mode_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="secret"):
        load_config(security__csrf__token=True)


def test_tokens_reject_garbage() -> None:
    tokens = CsrfTokens(SECRET)
    for bad in ("", ".", "abc", "a.b", "x" * 500 + "." + "y"):
        assert not tokens.verify(bad, "s")
    with pytest.raises(ValueError):
        CsrfTokens("short")


def test_form_field_token_under_starlette_keeps_body_for_app() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from erp_professional import integrate

    async def pay(request: Request) -> JSONResponse:
        from urllib.parse import parse_qsl

        return JSONResponse(dict(parse_qsl((await request.body()).decode())))

    app = Starlette(routes=[Route("/pay", pay, methods=["POST"])])
    integrate(app, security__csrf__token=True, security__csrf__secret=SECRET)
    token = CsrfTokens(SECRET).issue("abc")
    cookies = {"Cookie": f"session=abc; csrftoken={token}", **FORM}
    with TestClient(app) as client:
        ok = client.post("/pay", content=f"amount=5&csrf_token={token}", headers=cookies)
        assert ok.status_code == 200 and ok.json() == {"amount": "5", "csrf_token": token}
        forged = CsrfTokens(SECRET).issue("other")
        bad = client.post("/pay", content=f"amount=5&csrf_token={forged}", headers=cookies)
        assert bad.status_code == 403 and bad.json()["detail"] == "invalid CSRF token"
        missing = client.post("/pay", content="amount=5", headers=cookies)
        assert missing.status_code == 403 and missing.json()["detail"] == "missing CSRF token"


@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "plain"])
def test_form_field_under_bare_asgi(wrapped: bool) -> None:
    from erp_professional import integrate
    from erp_professional.security import BodyGuard

    from ._apps import asgi_call, asgi_echo

    token = CsrfTokens(SECRET).issue("abc")
    body = f"amount=5&csrf_token={token}".encode()
    headers = [
        ("Cookie", f"session=abc; csrftoken={token}"),
        ("Content-Type", FORM["Content-Type"]),
        ("Content-Length", str(len(body))),
    ]
    options = {"security__csrf__token": True, "security__csrf__secret": SECRET}
    app = asgi_echo()
    pro = integrate(BodyGuard(app) if wrapped else app, **options)
    try:
        # The driver runs the body guard for every ASGI app: the form field is read and
        # the body reaches the app unchanged.
        ok = asgi_call(pro, "POST", headers=headers, body=body)
        assert ok.status == 200 and ok.json()["received"] == body.decode()
        forged = body.replace(token.encode(), b"forged")
        bad = asgi_call(pro, "POST", headers=headers, body=forged)
        assert bad.status == 403
    finally:
        pro.shutdown()


_HEADER_TEXT = st.one_of(
    st.sampled_from(
        [
            "same-origin",
            "none",
            "cross-site",
            "same-site",
            "",
            "http://testserver",
            "https://testserver",
            "http://testserver:8000",
            "http://evil.example",
            "http://[::1",
            "http://te\tstserver",
            "testserver",
            "null",
        ]
    ),
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(
    site=st.none() | _HEADER_TEXT,
    origin=st.none() | _HEADER_TEXT,
    host=st.none() | _HEADER_TEXT,
    method=st.sampled_from(["POST", "PUT", "DELETE", "GET"]),
)
def test_asgi_byte_path_decides_like_the_text_path(
    site: str | None, origin: str | None, host: str | None, method: str
) -> None:
    """The ASGI check reads raw byte values; it must decide exactly as the header-view path
    (WSGI) does on the same values, malformed ones included."""
    protection = CsrfProtection(trusted_origins=["https://partner.example"])
    given = (("sec-fetch-site", site), ("origin", origin), ("host", host))
    present = [(n, v) for n, v in given if v is not None]
    scope = {
        "type": "http",
        "method": method,
        "path": "/submit",
        "headers": [(n.encode(), v.encode("latin-1")) for n, v in present],
    }
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/submit"}
    for name, value in present:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    pipeline = Pipeline()
    asgi = protection.check(Exchange.from_asgi(scope, pipeline))
    wsgi = protection.check(Exchange.from_wsgi(environ, pipeline))
    assert asgi == wsgi
