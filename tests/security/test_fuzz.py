"""Hostile headers, paths, queries and bodies through the whole security stack: never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp_professional import integrate
from erp_professional.hub import Professional

from ._apps import asgi_call, asgi_echo, wsgi_call, wsgi_echo

FULL_STACK: dict[str, Any] = {
    "security__rate_limit__default": "100000/minute",
    "security__rate_limit__routes": {"POST /login": "100000/minute"},
    "security__rate_limit__slow_down__after": "100000/minute",
    "security__csrf__token": True,
    "security__csrf__secret": "f" * 32,
    "security__csrf__trusted_origins": ["https://app.example.com"],
    "security__cors__allow_origins": ["https://app.example.com"],
    "security__cors__allow_credentials": True,
    "security__injection__enabled": True,
    "security__injection__mode": "block",
    "security__injection__check": ["path", "query", "headers"],
    "security__api_keys__enabled": True,
    "security__api_keys__routes": {"/admin/*": ["admin"]},
    "security__body__content_types": [
        "application/json",
        "text/*",
        "application/x-www-form-urlencoded",
    ],
    "security__body__json_max_depth": 8,
    "security__body__max_bytes": 4096,
    "security__csp__nonce": True,
}

HEADER_NAMES = st.sampled_from(
    [
        "host",
        "origin",
        "sec-fetch-site",
        "cookie",
        "content-type",
        "content-length",
        "transfer-encoding",
        "x-api-key",
        "authorization",
        "x-forwarded-for",
        "x-forwarded-proto",
        "forwarded",
        "access-control-request-method",
        "access-control-request-headers",
        "referer",
        "user-agent",
        "x-csrf-token",
        "x-request-id",
    ]
) | st.from_regex(r"x-[a-z0-9-]{1,20}", fullmatch=True)
HEADER_VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=120,
) | st.sampled_from(
    [
        "cross-site",
        "same-origin",
        "none",
        "https://app.example.com",
        "https://evil.example",
        "null",
        "application/json",
        "text/plain",
        "-1",
        "99999999999999999999",
        "chunked",
        "session=abc; csrftoken=x.y",
        "Bearer erp_aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "PUT",
    ]
)
METHODS = st.sampled_from(
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW"]
)
PATHS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="?#"),
    max_size=60,
).map(lambda s: "/" + s) | st.sampled_from(["/", "/admin/x", "/login", "/_pro/", "/_pro/nope"])
QUERIES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="#"),
    max_size=80,
)
BODIES = st.binary(max_size=600) | st.sampled_from(
    [b"{}", b"[[[[[[[[[[[[1]]]]]]]]]]]]", b'{"a": "\\u0000"}', b"csrf_token=x.y&a=1", b"x" * 5000]
)


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def stack(request: pytest.FixtureRequest) -> Iterator[tuple[str, Professional]]:
    kind = request.param
    pro = integrate(asgi_echo() if kind == "asgi" else wsgi_echo(), **FULL_STACK)
    yield kind, pro
    pro.shutdown()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=METHODS,
    path=PATHS,
    query=QUERIES,
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    body=BODIES,
)
def test_never_a_500(
    stack: tuple[str, Professional],
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    kind, pro = stack
    if kind == "asgi":
        result = asgi_call(pro, method, path, headers=headers, body=body, query=query)
    else:
        wsgi_path = path.encode("utf-8").decode("latin-1")
        result = wsgi_call(pro, method, wsgi_path, headers=headers, body=body, query=query)
    assert 200 <= result.status < 500 or result.status == 503, (result.status, result.body[:300])
    if result.status >= 400 and method != "HEAD":
        document = json.loads(result.body)
        assert document["status"] == result.status
    assert "server" not in result.headers and "x-powered-by" not in result.headers
