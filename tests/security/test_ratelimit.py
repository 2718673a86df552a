from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erp_professional import integrate
from erp_professional.config import ConfigError, load_config
from erp_professional.security import (
    AsyncRateLimiter,
    RateLimitConcern,
    RateLimiter,
    SlowDown,
    parse_limits,
    rate_limit,
)
from erp_professional.testing import set_testing

from ._apps import Factory, asgi_call, asgi_echo, wsgi_call, wsgi_echo


def test_429_after_the_limit_with_all_fields(make: Factory) -> None:
    client = make(security__rate_limit__default="3/minute")
    statuses = []
    last: Any = None
    for _ in range(4):
        last = client.request("GET", "/")
        statuses.append(last.status)
        if last.status == 200:
            remaining = int(last.headers["x-ratelimit-remaining"])
            assert last.headers["x-ratelimit-limit"] == "3"
            assert last.headers["ratelimit-policy"] == '"3-per-1-minute";q=3;w=60'
            assert re.fullmatch(r'"3-per-1-minute";r=\d;t=\d+', last.headers["ratelimit"])
            assert remaining == 3 - len(statuses)
    assert statuses == [200, 200, 200, 429]
    assert last.headers["content-type"] == "application/problem+json"
    assert last.json()["status"] == 429
    assert 1 <= int(last.headers["retry-after"]) <= 60
    assert last.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(last.headers["x-ratelimit-reset"]) - time.time()) <= 61
    assert last.headers["x-frame-options"] == "SAMEORIGIN"  # other concerns still apply


def test_limits_are_per_client_ip() -> None:
    pro = integrate(asgi_echo(), security__rate_limit__default="1/minute")
    try:
        assert asgi_call(pro, client=("198.51.100.1", 1)).status == 200
        assert asgi_call(pro, client=("198.51.100.1", 1)).status == 429
        assert asgi_call(pro, client=("198.51.100.2", 1)).status == 200
        # X-Forwarded-For from an untrusted peer is ignored.
        spoof = [("X-Forwarded-For", "192.0.2.99")]
        assert asgi_call(pro, headers=spoof, client=("198.51.100.1", 1)).status == 429
    finally:
        pro.shutdown()


def test_forwarded_client_honoured_behind_trusted_proxy() -> None:
    pro = integrate(
        wsgi_echo(),
        security__rate_limit__default="1/minute",
        web__trusted_proxies=["10.0.0.0/8"],
    )
    try:
        for client, expected in (("192.0.2.1", 200), ("192.0.2.1", 429), ("192.0.2.2", 200)):
            result = wsgi_call(pro, headers=[("X-Forwarded-For", client)], remote_addr="10.0.0.5")
            assert result.status == expected
    finally:
        pro.shutdown()


def test_per_route_limits_several_and_costs(make: Factory) -> None:
    client = make(
        security__rate_limit__default="100/minute",
        security__rate_limit__routes={"POST /login": "2/minute;3/hour", "/export/*": "10/minute"},
        security__rate_limit__costs={"/export/*": 4},
    )
    assert [client.request("POST", "/login").status for _ in range(3)] == [200, 200, 429]
    policy = client.request("GET", "/login").headers["ratelimit-policy"]
    assert policy == '"100-per-1-minute";q=100;w=60'
    login = client.request("POST", "/login")
    assert login.status == 429
    assert [client.request("GET", "/export/csv").status for _ in range(3)] == [200, 200, 429]


def test_several_limits_report_every_policy(make: Factory) -> None:
    client = make(security__rate_limit__default="5/second;2/minute")
    first = client.request("GET", "/")
    assert first.headers["ratelimit-policy"] == (
        '"5-per-1-second";q=5;w=1, "2-per-1-minute";q=2;w=60'
    )
    assert first.headers["x-ratelimit-limit"] == "2"  # the tightest
    client.request("GET", "/")
    assert client.request("GET", "/").status == 429


def test_exemptions(make: Factory) -> None:
    client = make(
        security__rate_limit__default="1/minute",
        security__rate_limit__exempt=["/health*"],
    )
    assert [client.request("GET", "/healthz").status for _ in range(3)] == [200, 200, 200]
    pro = integrate(
        asgi_echo(),
        security__rate_limit__default="1/minute",
        security__rate_limit__exempt_clients=["192.0.2.0/24"],
    )
    try:
        assert [asgi_call(pro, client=("192.0.2.9", 1)).status for _ in range(3)] == [200] * 3
    finally:
        pro.shutdown()


@pytest.mark.parametrize("strategy", ["fixed-window", "moving-window", "sliding-window-counter"])
def test_strategies(make: Factory, strategy: str) -> None:
    client = make(security__rate_limit__default="2/minute", security__rate_limit__strategy=strategy)
    assert [client.request("GET", "/").status for _ in range(3)] == [200, 200, 429]


def test_custom_key_function_and_none_exempts() -> None:
    def by_tenant(ex: Any) -> str | None:
        return ex.headers.get("x-tenant")

    pro = integrate(wsgi_echo())
    pro.add_concern(RateLimitConcern(default="1/minute", key=by_tenant))
    try:
        tenant_a = [("X-Tenant", "a")]
        assert wsgi_call(pro, headers=tenant_a).status == 200
        assert wsgi_call(pro, headers=tenant_a).status == 429
        assert wsgi_call(pro, headers=[("X-Tenant", "b")]).status == 200
        assert [wsgi_call(pro).status for _ in range(3)] == [200] * 3
    finally:
        pro.shutdown()


def test_headers_mode(make: Factory) -> None:
    ietf = make(security__rate_limit__default="5/minute", security__rate_limit__headers="ietf")
    headers = ietf.request("GET", "/").headers
    assert "ratelimit" in headers and "x-ratelimit-limit" not in headers
    none = make(security__rate_limit__default="5/minute", security__rate_limit__headers="none")
    headers = none.request("GET", "/").headers
    assert "ratelimit" not in headers and "x-ratelimit-limit" not in headers


def test_env_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_PRO_SECURITY__RATE_LIMIT__DEFAULT", "100/minute")
    monkeypatch.setenv("ERP_PRO_SECURITY__RATE_LIMIT__FAILURE_POLICY", "closed")
    cfg = load_config()
    assert cfg.security.rate_limit.default == "100/minute"
    assert cfg.security.rate_limit.failure_policy == "closed"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("default", "lots"),
        ("default", "5 per fortnight"),
        ("storage_url", "mongodb://x"),
        ("failure_policy", "maybe"),
        ("routes", {"/x": "nope"}),
        ("exempt_clients", ["not-a-network"]),
    ],
)
def test_bad_config_named(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"security.rate_limit.{key}"):
        load_config(**{f"security__rate_limit__{key}": value})


def test_decorator_on_starlette_async_view_needs_no_request_parameter() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    @rate_limit("2/minute")
    async def slow_thing() -> str:
        return "ok"

    async def view(request: Any) -> PlainTextResponse:
        return PlainTextResponse(await slow_thing())

    app = Starlette(
        routes=[Route("/thing", view), Route("/other", lambda r: PlainTextResponse("x"))]
    )
    integrate(app, security__rate_limit__default="100/minute")
    with TestClient(app) as client:
        codes = [client.get("/thing").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = client.get("/thing")
        assert refused.headers["content-type"] == "application/problem+json"
        assert "retry-after" in refused.headers
        assert refused.headers["x-ratelimit-limit"] == "2"
        assert client.get("/other").status_code == 200


def test_decorator_on_flask_view() -> None:
    import flask

    app = flask.Flask("t")

    @app.post("/login")
    @rate_limit("1/minute")
    def login() -> str:
        return "ok"

    integrate(app)
    client = app.test_client()
    with client.post("/login") as first:
        assert first.status_code == 200
    with client.post("/login") as refused:
        assert refused.status_code == 429
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_decorator_outside_a_request_calls_through() -> None:
    @rate_limit("1/minute")
    def f() -> int:
        return 1

    assert [f(), f(), f()] == [1, 1, 1]


def test_parse_limits_errors() -> None:
    assert [i.amount for i in parse_limits("1/second;5/minute")] == [1, 5]
    with pytest.raises(ValueError):
        parse_limits("")


# -- slow-down ----------------------------------------------------------------------------


def test_slow_down_delay_schedule() -> None:
    slow = SlowDown("3/minute", delay_ms=100, max_delay_ms=250)
    assert [slow.delay_for(n) for n in range(1, 8)] == [0, 0, 0, 0.1, 0.2, 0.25, 0.25]


def test_slow_down_waits_with_asyncio_under_asgi() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    pro = integrate(asgi_echo())
    pro.add_concern(
        RateLimitConcern(slow_down=SlowDown("2/minute", 50, 120, async_sleep=fake_sleep))
    )
    try:
        statuses = [asgi_call(pro).status for _ in range(6)]
    finally:
        pro.shutdown()
    assert statuses == [200] * 6
    assert waits == [0.05, 0.1, 0.12, 0.12]


def test_slow_down_from_config_skips_waits_in_test_mode() -> None:
    seen: list[float] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        from erp_professional.web import current_exchange

        ex = current_exchange()
        assert ex is not None
        seen.append(ex.state.get("slow_down_delay", 0.0))
        start_response("200 OK", [])
        return [b""]

    pro = integrate(
        app,
        security__rate_limit__slow_down__after="1/minute",
        security__rate_limit__slow_down__delay_ms=1000,
        security__rate_limit__slow_down__max_delay_ms=5000,
    )
    try:
        with set_testing(True):
            started = time.perf_counter()
            for _ in range(4):
                wsgi_call(pro)
            assert time.perf_counter() - started < 3
    finally:
        pro.shutdown()
    assert seen == [0.0, 1.0, 2.0, 3.0]


def test_limiter_faces_share_memory() -> None:
    limits = parse_limits("2/minute")
    concern = RateLimitConcern()
    assert concern.limiter.hit(limits, "k").allowed
    assert asyncio.run(concern.async_limiter.hit(limits, "k")).allowed
    assert not concern.limiter.hit(limits, "k").allowed


def test_rejected_limit_is_counted_once_per_limit() -> None:
    limiter = RateLimiter()
    limits = parse_limits("1/minute;10/minute")
    assert limiter.hit(limits, "x").allowed
    decision = limiter.hit(limits, "x")
    assert not decision.allowed and len(decision.states) == 1


def test_async_limiter_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        AsyncRateLimiter("mongodb://x")
    with pytest.raises(ValueError):
        RateLimiter(strategy="leaky")  # type: ignore[arg-type]


def test_memory_storage_hooks_still_exist_in_limits() -> None:
    # The memory storage sweeps expired keys at most once a second by overriding a
    # private hook of limits' MemoryStorage: fail loudly if limits renames it.
    from limits.storage import MemoryStorage

    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")
    assert hasattr(MemoryStorage, "_MemoryStorage__expire_events")


def test_memory_counters_expire_without_the_sweep() -> None:
    from erp_professional.security._ratelimit import _MemoryStorage

    storage = _MemoryStorage()
    assert storage.incr("k", 0.4) == 1
    assert storage.incr("k", 0.4) == 2
    time.sleep(0.5)
    assert storage.incr("k", 0.4) == 1


def test_memory_concern_runs_synchronously_unless_it_must_wait() -> None:
    plain = RateLimitConcern(default="5/minute")
    assert not plain.overrides("on_request_async")
    slowed = RateLimitConcern(slow_down=SlowDown("1/minute"))
    assert slowed.overrides("on_request_async")
    shared = RateLimitConcern(RateLimiter("redis://127.0.0.1:6379/9"), default="5/minute")
    assert shared.overrides("on_request_async")
    assert all(isinstance(c, RateLimitConcern) for c in (plain, slowed, shared))


def test_memory_concern_counts_one_fixed_limit_in_the_limiters_counters() -> None:
    from erp_professional.web import Exchange, Pipeline

    pipeline = Pipeline()
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "client": ("10.0.0.9", 1)}
    for limits in ("2/minute", "2/minute;5/hour"):
        concern = RateLimitConcern(default=limits)
        assert concern.default is not None
        assert concern.on_request(Exchange.from_asgi(dict(scope), pipeline)) is None
        assert concern.on_request(Exchange.from_asgi(dict(scope), pipeline)) is None
        refused = concern.on_request(Exchange.from_asgi(dict(scope), pipeline))
        assert refused is not None and refused.status == 429
        # the limiter itself (decorators, other faces) sees the same count
        again = concern.limiter.hit(concern.default.limits, "global", "ip:10.0.0.9")
        assert not again.allowed and again.states[0].remaining == 0


def test_asgi_fast_fields_equal_the_general_ones() -> None:
    from erp_professional.security._throttle import _raw_fields, rate_headers

    limiter = RateLimiter()
    for spec in ("3/minute", "10/second", "1000/day"):
        decision = limiter.hit(parse_limits(spec), "k", spec)
        now = time.time()
        general = [(k.lower().encode(), v.encode()) for k, v in rate_headers(decision, "all", now)]
        fast = _raw_fields(decision.states[0])
        assert [k for k, _ in fast] == [k for k, _ in general]
        assert fast[:4] == general[:4]
        assert fast[4][1].split(b";t=")[0] == general[4][1].split(b";t=")[0]


steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from([1, 2, 60]),
        st.integers(min_value=1, max_value=3),
        st.sampled_from([0.0, 0.4, 1.0, 1.5, 61.0]),
    ),
    max_size=40,
)


@given(steps, st.sampled_from([2, 1000]))
def test_fixed_window_fast_path_counts_like_the_stock_storage(
    plan: list[tuple[str, int, int, float]], amount: int
) -> None:
    from limits import RateLimitItemPerSecond
    from limits.storage import MemoryStorage

    from erp_professional.security._ratelimit import _MemoryStorage

    now = [1_000_000.0]
    real_time = time.time
    time.time = lambda: now[0]  # both storages read the wall clock through this module
    try:
        stock, ours = MemoryStorage(), _MemoryStorage()
        items = {seconds: RateLimitItemPerSecond(amount, seconds) for seconds in (1, 2, 60)}
        for client, seconds, cost, advance in plan:
            now[0] += advance
            item = items[seconds]
            key = item.key_for("scope", client)
            used = stock.incr(key, item.get_expiry(), amount=cost)
            state = ours.hit_fixed(item, ("scope", client), cost)
            assert state.limit is item
            assert state.allowed == (used <= amount)
            assert state.remaining == max(0, amount - used)
            assert state.reset == stock.get_expiry(key)
    finally:
        time.time = real_time
