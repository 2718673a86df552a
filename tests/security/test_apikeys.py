from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.config import ConfigError, load_config
from erp_professional.security import (
    ApiKeyError,
    ApiKeys,
    AsyncApiKeys,
    generate_key,
    key_checksum_ok,
    require_api_key,
)

from ._apps import Factory

PEPPER = "p" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = request.param
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path}/keys.db"
    elif kind == "postgres":
        yield request.getfixturevalue("postgres_url")
    else:
        yield request.getfixturevalue("redis_url")


@pytest.fixture
def keys(store_url: str) -> Iterator[ApiKeys]:
    table = "k_" + uuid.uuid4().hex[:12]
    manager = ApiKeys(store_url, pepper=PEPPER, clock=Clock(), table=table)
    yield manager
    if store_url.startswith("postgresql"):
        from erp_professional.connections import postgres_pool

        with postgres_pool(store_url).connection() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    manager.close()


def test_key_format_and_checksum() -> None:
    key = generate_key("acme")
    prefix, _, rest = key.partition("_")
    assert prefix == "acme" and len(rest) == 28 and rest.isalnum()
    assert key_checksum_ok(key)
    flipped = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    assert not key_checksum_ok(flipped)
    assert len({generate_key() for _ in range(200)}) == 200
    with pytest.raises(ValueError):
        generate_key("Bad-Prefix")


def test_lifecycle(keys: ApiKeys) -> None:
    clock = keys.clock
    assert isinstance(clock, Clock)
    made = keys.create("billing", ["invoices:read", "invoices:write"], expires_in=3600)
    assert made.secret not in repr(made)
    assert made.record.hash != made.secret and made.secret not in made.record.hash
    record = keys.verify(made.secret, ["invoices:read"])
    assert record.id == made.record.id and record.last_used_at == clock.now
    with pytest.raises(ApiKeyError) as scope:
        keys.verify(made.secret, ["admin"])
    assert scope.value.status == 403
    # last-used is written at most once a minute
    clock.now += 30
    assert keys.verify(made.secret).last_used_at == clock.now - 30
    clock.now += 31
    assert keys.verify(made.secret).last_used_at == clock.now
    assert keys.get(made.record.id).last_used_at == clock.now  # type: ignore[union-attr]
    # expiry
    clock.now += 3600
    with pytest.raises(ApiKeyError, match="expired"):
        keys.verify(made.secret)


def test_rotation_overlap_then_old_key_expires(keys: ApiKeys) -> None:
    clock = keys.clock
    assert isinstance(clock, Clock)
    old = keys.create("ci", ["deploy"])
    new = keys.rotate(old.record.id, overlap=600)
    assert new.record.rotated_from == old.record.id and new.record.scopes == ("deploy",)
    assert keys.verify(old.secret).id == old.record.id  # still works during the overlap
    assert keys.verify(new.secret).id == new.record.id
    clock.now += 601
    with pytest.raises(ApiKeyError, match="expired"):
        keys.verify(old.secret)
    assert keys.verify(new.secret).id == new.record.id
    with pytest.raises(ApiKeyError):
        keys.rotate(old.record.id)


def test_revocation_and_listing(keys: ApiKeys) -> None:
    a = keys.create("a")
    keys.clock.now += 1  # type: ignore[attr-defined]
    b = keys.create("b", ["x"])
    revoked = keys.revoke(a.record.id)
    assert revoked.revoked_at is not None
    with pytest.raises(ApiKeyError, match="revoked"):
        keys.verify(a.secret)
    assert keys.verify(b.secret).name == "b"
    listed = keys.list()
    assert [r.name for r in listed] == ["a", "b"]
    assert all("hash" not in r.public() for r in listed)
    with pytest.raises(KeyError):
        keys.revoke("does-not-exist")


def test_unknown_and_malformed_keys(keys: ApiKeys) -> None:
    keys.create("a")
    for bad in ("", "nope", generate_key(), "erp_" + "x" * 28, "erp_' OR '1'='1"):
        with pytest.raises(ApiKeyError) as info:
            keys.verify(bad)
        assert info.value.status == 401


def test_a_different_pepper_verifies_nothing(store_url: str) -> None:
    table = "k_" + uuid.uuid4().hex[:12]
    first = ApiKeys(store_url, pepper=PEPPER, table=table)
    made = first.create("x")
    other = ApiKeys(store_url, pepper="q" * 40, table=table)
    with pytest.raises(ApiKeyError):
        other.verify(made.secret)
    if store_url.startswith("postgresql"):
        from erp_professional.connections import postgres_pool

        with postgres_pool(store_url).connection() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


HOSTILE = [
    "'; DROP TABLE erp_api_keys; --",
    "x' OR '1'='1",
    'name"with"quotes',
    "\\",
    "ünïcödé ✓",
    "a%b_c",
    "$1; SELECT pg_sleep(5)",
]


def test_hostile_inputs_are_data(keys: ApiKeys) -> None:
    made = [keys.create(name, [name]) for name in HOSTILE]
    for item in made:
        assert keys.verify(item.secret).name in HOSTILE
    assert sorted(r.name for r in keys.list()) == sorted(HOSTILE)
    for hostile in HOSTILE:
        assert keys.get(hostile) is None
        assert keys.store.by_hash(hostile) is None
        with pytest.raises(KeyError):
            keys.revoke(hostile)
    assert len(keys.list()) == len(HOSTILE)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_verify_never_crashes_on_any_text(text: str) -> None:
    manager = ApiKeys(pepper=PEPPER)
    with pytest.raises(ApiKeyError):
        manager.verify(text)


def test_async_face(store_url: str) -> None:
    table = "k_" + uuid.uuid4().hex[:12]
    manager = AsyncApiKeys(ApiKeys(store_url, pepper=PEPPER, table=table))
    native = store_url.startswith(("redis", "postgresql"))
    assert (manager._native is not None) is native

    async def main() -> None:
        made = await manager.create("svc", ["read"])
        assert (await manager.verify(made.secret, ["read"])).name == "svc"
        new = await manager.rotate(made.record.id, overlap=0)
        with pytest.raises(ApiKeyError):
            await manager.verify(made.secret)
        await manager.revoke(new.record.id)
        with pytest.raises(ApiKeyError):
            await manager.verify(new.secret)
        assert len(await manager.list()) == 2
        # last-used written through the async face is visible to the sync one
        assert manager.keys.get(made.record.id).last_used_at is not None  # type: ignore[union-attr]
        from erp_professional import connections

        await connections.aclose()

    asyncio.run(main())
    if store_url.startswith("postgresql"):
        from erp_professional.connections import postgres_pool

        with postgres_pool(store_url).connection() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_config_requires_pepper_for_persistent_store() -> None:
    with pytest.raises(ConfigError, match="pepper"):
        load_config(
            security__api_keys__enabled=True, security__api_keys__store_url="sqlite:///k.db"
        )
    with pytest.raises(ConfigError, match="pepper"):
        load_config(security__api_keys__pepper="short")
    cfg = load_config(security__api_keys__pepper="z" * 32)
    assert "z" * 32 not in str(cfg.masked())


# -- through integrate() ------------------------------------------------------------------


def _enabled(**extra: object) -> dict[str, object]:
    return {"security__api_keys__enabled": True, **extra}


def test_concern_accepts_rejects_and_scopes(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make(
        **_enabled(
            security__api_keys__routes={"/admin/*": ["admin"], "POST /invoices": ["invoices:write"]}
        )
    )
    keys: ApiKeys = client.pro.api_keys  # type: ignore[assignment]
    reader = keys.create("reader", ["invoices:read"]).secret
    admin = keys.create("admin", ["admin", "invoices:write"]).secret
    with caplog.at_level(logging.DEBUG):
        assert client.request("GET", "/public").status == 200
        missing = client.request("GET", "/admin/users")
        assert (
            missing.status == 401 and missing.headers["content-type"] == "application/problem+json"
        )
        assert missing.headers["www-authenticate"].startswith("Bearer")
        forbidden = client.request("GET", "/admin/users", headers={"X-API-Key": reader})
        assert forbidden.status == 403
        assert client.request("GET", "/admin/users", headers={"X-API-Key": admin}).status == 200
        bearer = {"Authorization": f"Bearer {admin}"}
        assert client.request("POST", "/invoices", headers=bearer).status == 200
        wrong = client.request("GET", "/public", headers={"X-API-Key": reader[:-2] + "zz"})
        assert wrong.status == 401  # a bad key is refused even where none is needed
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in (reader, admin):
        assert secret not in text
        assert secret[4:-4] not in text


def test_required_everywhere_with_exemptions(make: Factory) -> None:
    client = make(
        **_enabled(security__api_keys__required=True, security__api_keys__exempt=["/health"])
    )
    assert client.request("GET", "/health").status == 200
    assert client.request("GET", "/x").status == 401
    secret = client.pro.api_keys.create("any").secret  # type: ignore[attr-defined]
    assert client.request("GET", "/x", headers={"X-API-Key": secret}).status == 200


def test_rate_limit_by_api_key(make: Factory) -> None:
    client = make(
        **_enabled(security__rate_limit__default="1/minute", security__rate_limit__key="api_key")
    )
    keys = client.pro.api_keys  # type: ignore[attr-defined]
    one, two = keys.create("one").secret, keys.create("two").secret
    assert client.request("GET", "/", headers={"X-API-Key": one}).status == 200
    assert client.request("GET", "/", headers={"X-API-Key": one}).status == 429
    assert client.request("GET", "/", headers={"X-API-Key": two}).status == 200


def test_require_api_key_decorator_starlette_and_flask() -> None:
    import flask
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from erp_professional import integrate
    from erp_professional.security import api_key

    @require_api_key(scopes=["reports"])
    async def report(request: object) -> JSONResponse:
        record = api_key()
        assert record is not None
        return JSONResponse({"key": record.name})

    app = Starlette(routes=[Route("/report", report)])
    pro = integrate(app, **_enabled())
    good = pro.api_keys.create("rep", ["reports"]).secret  # type: ignore[attr-defined]
    weak = pro.api_keys.create("weak").secret  # type: ignore[attr-defined]
    with TestClient(app) as client:
        assert client.get("/report").status_code == 401
        assert client.get("/report", headers={"X-API-Key": weak}).status_code == 403
        ok = client.get("/report", headers={"X-API-Key": good})
        assert ok.status_code == 200 and ok.json() == {"key": "rep"}

    fapp = flask.Flask("k")

    @fapp.get("/report")
    @require_api_key(scopes=["reports"])
    def freport() -> str:
        return "ok"

    fpro = integrate(fapp, **_enabled())
    fgood = fpro.api_keys.create("rep", ["reports"]).secret  # type: ignore[attr-defined]
    fclient = fapp.test_client()
    with fclient.get("/report") as r:
        assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    with fclient.get("/report", headers={"X-API-Key": fgood}) as r:
        assert r.status_code == 200


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_store_outage_is_503_never_500(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    from erp_professional import integrate

    from ._apps import asgi_call, asgi_echo, wsgi_call, wsgi_echo

    pro = integrate(
        asgi_echo() if kind == "asgi" else wsgi_echo(),
        **_enabled(
            security__api_keys__store_url="redis://127.0.0.1:9/0?socket_connect_timeout=0.2",
            security__api_keys__pepper=PEPPER,
        ),
    )
    call = asgi_call if kind == "asgi" else wsgi_call
    key = generate_key()
    try:
        with caplog.at_level("ERROR", logger="erp_professional.security"):
            result = call(pro, headers=[("X-API-Key", key)])
        assert call(pro).status == 200  # no key presented, none required: unaffected
    finally:
        pro.shutdown()
    assert result.status == 503 and result.headers["retry-after"] == "5"
    assert any("store unavailable" in r.getMessage() for r in caplog.records)
    assert key not in caplog.text
