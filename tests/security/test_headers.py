from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.config import ConfigError
from erp_professional.security import (
    LEAKY_HEADERS,
    OWASP_CLEAR_SITE_DATA,
    PRESETS,
    ContentSecurityPolicy,
    CspError,
    csp_nonce,
)

from ._apps import Factory

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"
OWASP_DIR = CONFORMANCE / "owasp-secure-headers"

HELMET_EXPECTED = {
    "content-security-policy": (
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;"
        "form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';"
        "script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';"
        "upgrade-insecure-requests"
    ),
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-frame-options": "SAMEORIGIN",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}

API_EXPECTED = {
    "content-security-policy": "default-src 'none';frame-ancestors 'none'",
    "cache-control": "no-store",
    "cross-origin-resource-policy": "same-origin",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}

BASE = {"content-type", "content-length", "x-request-id", "date"}


def _security_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in BASE}


def test_helmet_preset_is_the_default_and_exact(make: Factory) -> None:
    client = make(https=True)
    result = client.request("GET", "/")
    assert result.status == 200
    assert _security_headers(result.headers) == HELMET_EXPECTED


def test_api_preset_exact(make: Factory) -> None:
    client = make(https=True, security__headers__preset="api")
    assert _security_headers(client.request("GET", "/").headers) == API_EXPECTED


def _owasp_add() -> dict[str, str]:
    data = json.loads((OWASP_DIR / "owasp_headers_add.json").read_text())
    return {h["name"].lower(): h["value"] for h in data["headers"]}


def test_owasp_preset_follows_the_project_file(make: Factory) -> None:
    expected = _owasp_add()
    # Clear-Site-Data belongs on a logout response only: offered for a route, never global.
    assert expected.pop("clear-site-data") == OWASP_CLEAR_SITE_DATA
    client = make(https=True, security__headers__preset="owasp")
    assert _security_headers(client.request("GET", "/").headers) == expected


def test_owasp_clear_site_data_on_a_logout_route(make: Factory) -> None:
    client = make(
        security__headers__preset="owasp",
        security__headers__routes={"POST /logout": {"Clear-Site-Data": OWASP_CLEAR_SITE_DATA}},
    )
    assert client.request("POST", "/logout").headers["clear-site-data"] == OWASP_CLEAR_SITE_DATA
    assert "clear-site-data" not in client.request("GET", "/logout").headers


def test_owasp_remove_list_is_stripped() -> None:
    data = json.loads((OWASP_DIR / "owasp_headers_remove.json").read_text())
    assert {h.lower() for h in data["headers"]} <= LEAKY_HEADERS
    assert {"server", "x-powered-by"} <= LEAKY_HEADERS


def test_off_preset_sends_nothing_but_still_strips(make: Factory) -> None:
    client = make(security__headers__preset="off")
    result = client.request("GET", "/")
    assert _security_headers(result.headers) == {}


def test_leaky_headers_stripped_and_can_be_kept(make: Factory) -> None:
    client = make()
    headers = client.request("GET", "/").headers
    assert "server" not in headers and "x-powered-by" not in headers
    assert "x-aspnet-version" not in headers
    kept = make(security__headers__strip_leaky=False, security__headers__preset="off")
    headers = kept.request("GET", "/").headers
    assert headers["x-powered-by"] == "PHP/8"


def test_hsts_only_over_https(make: Factory) -> None:
    assert "strict-transport-security" not in make().request("GET", "/").headers


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_hsts_honours_forwarded_proto_only_from_trusted_proxies(kind: str) -> None:
    from erp_professional import integrate

    from ._apps import asgi_call, asgi_echo, wsgi_call, wsgi_echo

    call = asgi_call if kind == "asgi" else wsgi_call
    echo = asgi_echo if kind == "asgi" else wsgi_echo
    forwarded = [("X-Forwarded-Proto", "https")]
    untrusted = integrate(echo())
    assert "strict-transport-security" not in call(untrusted, headers=forwarded).headers
    trusted = integrate(echo(), web__trusted_proxies=["203.0.113.0/24"])
    assert call(trusted, headers=forwarded).headers["strict-transport-security"] == (
        "max-age=31536000; includeSubDomains"
    )
    assert "strict-transport-security" not in call(trusted).headers
    trusted.shutdown()
    untrusted.shutdown()


def test_headers_on_rejections_too(make: Factory) -> None:
    client = make(security__body__max_bytes=10)
    result = client.request("POST", "/", body=b"x" * 100, headers={"Content-Type": "text/plain"})
    assert result.status == 413
    assert result.headers["x-frame-options"] == "SAMEORIGIN"
    assert result.headers["content-type"] == "application/problem+json"


def test_set_and_remove_single_headers(make: Factory) -> None:
    client = make(
        https=True,
        security__headers__set={
            "X-Frame-Options": "DENY",
            "Origin-Agent-Cluster": "",
            "Strict-Transport-Security": "",
        },
    )
    headers = client.request("GET", "/").headers
    assert headers["x-frame-options"] == "DENY"
    assert "origin-agent-cluster" not in headers
    assert "strict-transport-security" not in headers


def test_hsts_max_age_and_preload(make: Factory) -> None:
    client = make(
        https=True, security__headers__hsts_max_age=60, security__headers__hsts_preload=True
    )
    assert (
        client.request("GET", "/").headers["strict-transport-security"]
        == "max-age=60; includeSubDomains; preload"
    )


def test_csp_directives_report_only_and_routes(make: Factory) -> None:
    client = make(
        security__csp__directives={
            "scriptSrc": ["'self'", "cdn.example.com"],
            "upgrade-insecure-requests": None,
        },
        security__csp__report_only=True,
        security__csp__routes={"/embed/{id}": {"frame-ancestors": ["https://partner.example"]}},
    )
    headers = client.request("GET", "/").headers
    assert "content-security-policy" not in headers
    policy = headers["content-security-policy-report-only"]
    assert "script-src 'self' cdn.example.com" in policy
    assert "upgrade-insecure-requests" not in policy
    assert "frame-ancestors 'self'" in policy
    embed = client.request("GET", "/embed/42").headers["content-security-policy-report-only"]
    assert "frame-ancestors https://partner.example" in embed
    assert "script-src 'self' cdn.example.com" in embed


def test_csp_nonce_per_request(make: Factory) -> None:
    client = make(security__csp__nonce=True)
    first = client.request("GET", "/").headers["content-security-policy"]
    second = client.request("GET", "/").headers["content-security-policy"]
    assert "'nonce-" in first and first != second
    script = next(d for d in first.split(";") if d.startswith("script-src "))
    assert script.startswith("script-src 'self' 'nonce-")


def test_nonce_seen_by_the_app_is_the_one_sent() -> None:
    from erp_professional import integrate

    from ._apps import Client

    seen: list[str | None] = []

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        seen.append(csp_nonce())
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<p>ok</p>"]

    client = Client("wsgi", integrate(app, security__csp__nonce=True))
    try:
        policy = client.request("GET", "/").headers["content-security-policy"]
    finally:
        client.close()
    assert seen[0] is not None and f"'nonce-{seen[0]}'" in policy
    assert csp_nonce() is None


@pytest.mark.parametrize(
    ("directives", "message"),
    [
        ({"script-src": ["self"]}, "should be quoted"),
        ({"script-src": ["'self'; object-src *"]}, "';' or ','"),
        ({"img-src": ["a.com,b.com"]}, "';' or ','"),
        ({"default-src": None}, "needs a default-src"),
        ({"bad name": ["'self'"]}, "invalid directive name"),
        ({"script-src": ["nonce-abc"]}, "should be quoted"),
        ({"scriptSrc": ["'self'"], "script-src": ["'none'"]}, "duplicate"),
    ],
)
def test_csp_invalid_settings_fail_at_start_up(directives: dict, message: str) -> None:
    with pytest.raises(CspError, match=message):
        ContentSecurityPolicy(directives)
    from erp_professional.config import load_config

    with pytest.raises(ConfigError, match="csp"):
        load_config(security__csp__directives=directives)


def test_csp_without_defaults_needs_default_src() -> None:
    with pytest.raises(CspError, match="default-src"):
        ContentSecurityPolicy({"script-src": "'self'"}, use_defaults=False)
    with pytest.raises(CspError, match="no directives"):
        ContentSecurityPolicy({}, use_defaults=False)


def test_presets_registry() -> None:
    assert set(PRESETS) == {"helmet", "api", "owasp", "off"}


def test_env_form_selects_preset(monkeypatch: pytest.MonkeyPatch, make: Factory) -> None:
    monkeypatch.setenv("ERP_PRO_SECURITY__HEADERS__PRESET", "api")
    client = make(https=True)
    assert _security_headers(client.request("GET", "/").headers) == API_EXPECTED


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=20),
        st.none() | st.text(max_size=30) | st.lists(st.text(max_size=20), max_size=4),
        max_size=5,
    )
)
def test_csp_builder_either_refuses_clearly_or_renders_safely(directives: dict) -> None:
    try:
        policy = ContentSecurityPolicy(directives)
    except CspError as exc:
        message = str(exc)
        policy = None
    if policy is None:
        assert message.startswith("Content-Security-Policy")
        return
    rendered = policy.render()
    parts = rendered.split(";")
    assert len(parts) == len(policy.directives)
    assert "," not in rendered
    rendered.encode("ascii")  # a header value that every server can send
    assert all(0x20 <= ord(ch) < 0x7F for ch in rendered)
    assert parts[0].startswith("default-src")


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "snow\u2603", "nul\x00"])
def test_header_values_checked_at_start_up(value: str) -> None:
    from erp_professional.config import load_config

    with pytest.raises(ConfigError, match=r"headers\.set"):
        load_config(security__headers__set={"X-Custom": value})
    with pytest.raises(ConfigError, match=r"headers\.routes"):
        load_config(security__headers__routes={"/x": {"X-Custom": value}})


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize("nonce", [False, True])
def test_headers_the_app_set_itself_win_and_are_not_doubled(kind: str, nonce: bool) -> None:
    from erp_professional import integrate

    from ._apps import Client

    own = [
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "default-src 'none'"),
        ("Strict-Transport-Security", "max-age=60"),
        ("Content-Type", "text/plain"),
    ]

    def wsgi_app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", list(own))
        return [b"ok"]

    async def asgi_app(scope, receive, send):  # type: ignore[no-untyped-def]
        headers = [(k.lower().encode(), v.encode()) for k, v in own]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    app = asgi_app if kind == "asgi" else wsgi_app
    client = Client(kind, integrate(app, security__csp__nonce=nonce), https=True)
    try:
        result = client.request("GET", "/")
    finally:
        client.close()
    names = [name.lower() for name, _ in result.raw_headers]
    assert len(names) == len(set(names)), names
    assert result.headers["x-frame-options"] == "DENY"
    assert result.headers["content-security-policy"] == "default-src 'none'"
    assert result.headers["strict-transport-security"] == "max-age=60"
    assert result.headers["x-content-type-options"] == "nosniff"
    assert result.headers["referrer-policy"] == "no-referrer"
