from __future__ import annotations

import erp_professional.security as security


def test_all_is_sorted_and_complete() -> None:
    assert security.__all__ == sorted(security.__all__)
    for name in security.__all__:
        assert hasattr(security, name), name
    assert {"rate_limit", "require_api_key", "sanitize_html", "normalize_text", "csp_nonce"} <= set(
        security.__all__
    )


def test_defaults_of_integrate() -> None:
    from erp_professional import integrate

    from ._apps import wsgi_echo

    pro = integrate(wsgi_echo())
    try:
        names = [c.name for c in pro.pipeline.concerns]
        assert "security.headers" in names
        assert "security.csrf" in names
        assert "security.body" in names
        for off in (
            "security.rate_limit",
            "security.api_keys",
            "security.cors",
            "security.injection",
        ):
            assert off not in names
        body = pro.pipeline.get("security.body")
        assert body is not None and body.limits.max_bytes == 10 * 1024 * 1024  # type: ignore[attr-defined]
    finally:
        pro.shutdown()


def test_security_disabled_installs_nothing() -> None:
    from erp_professional import integrate

    from ._apps import wsgi_echo

    pro = integrate(wsgi_echo(), security__enabled=False)
    try:
        assert not [c for c in pro.pipeline.concerns if c.name.startswith("security.")]
    finally:
        pro.shutdown()
