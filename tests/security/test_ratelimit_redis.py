from __future__ import annotations

import multiprocessing
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from erp_professional import integrate
from erp_professional.security import RateLimitConcern, RateLimiter, parse_limits

from ._apps import asgi_call, asgi_echo, make_client, wsgi_call, wsgi_echo
from ._proxy import TcpProxy


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_429_with_redis(redis_url: str, kind: str) -> None:
    client = make_client(
        kind,
        security__rate_limit__default="3/minute",
        security__rate_limit__storage_url=redis_url,
    )
    try:
        results = [client.request("GET", "/") for _ in range(4)]
    finally:
        client.close()
    assert [r.status for r in results] == [200, 200, 200, 429]
    assert results[-1].headers["x-ratelimit-remaining"] == "0"
    assert int(results[-1].headers["retry-after"]) >= 1
    import redis

    keys = redis.Redis.from_url(redis_url).keys("erp:ratelimit*")
    assert keys, "the counters live in Redis"


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
def test_redis_strategies_async(redis_url: str, strategy: str) -> None:
    pro = integrate(
        asgi_echo(),
        security__rate_limit__default="2/minute",
        security__rate_limit__storage_url=redis_url,
        security__rate_limit__strategy=strategy,
    )
    try:
        assert [asgi_call(pro).status for _ in range(3)] == [200, 200, 429]
    finally:
        pro.shutdown()


def _worker(url: str, hits: int, start: Any, queue: Any) -> None:
    """One process serving requests through integrate(); counts its 200s and 429s."""
    pro = integrate(
        wsgi_echo(),
        security__rate_limit__default="10/minute",
        security__rate_limit__storage_url=url,
    )
    try:
        wsgi_call(pro, "GET", "/warm-up", remote_addr="198.51.100.200")  # connect first
        start.wait(30)
        statuses = [wsgi_call(pro, remote_addr="198.51.100.77").status for _ in range(hits)]
    finally:
        pro.shutdown()
    queue.put(statuses)


def test_shared_across_two_processes(redis_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(redis_url, 7, start, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    start.set()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    statuses = results[0] + results[1]
    # 14 requests from one client over two processes: exactly 10 pass, as with one process.
    assert statuses.count(200) == 10
    assert statuses.count(429) == 4


def _proxied(redis_url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(redis_url)
    return (
        f"redis://127.0.0.1:{proxy.port}{parts.path}?socket_timeout=0.5&socket_connect_timeout=0.5"
    )


def _target(redis_url: str) -> tuple[str, int]:
    parts = urlsplit(redis_url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize("policy", ["open", "closed", "memory-fallback"])
def test_redis_stopped_mid_test_follows_policy(
    redis_url: str, kind: str, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = TcpProxy(_target(redis_url))
    url = _proxied(redis_url, proxy)
    call, echo = (asgi_call, asgi_echo) if kind == "asgi" else (wsgi_call, wsgi_echo)
    pro = integrate(
        echo(),
        security__rate_limit__default="2/minute",
        security__rate_limit__storage_url=url,
        security__rate_limit__failure_policy=policy,
        security__rate_limit__recheck_interval=60,
    )
    try:
        assert call(pro).status == 200
        proxy.stop()
        with caplog.at_level("WARNING", logger="erp_professional.security"):
            statuses = [call(pro).status for _ in range(4)]
    finally:
        proxy.stop()
        pro.shutdown()
    assert 500 not in statuses
    expected = {
        "open": [200, 200, 200, 200],
        "closed": [503, 503, 503, 503],
        "memory-fallback": [200, 200, 429, 429],
    }[policy]
    assert statuses == expected
    warnings = [r for r in caplog.records if "rate limit storage" in r.getMessage()]
    assert len(warnings) == 1, "one warning per outage, not per request"
    assert policy in warnings[0].getMessage()


def test_storage_rechecked_after_interval(redis_url: str) -> None:
    now = [1000.0]
    proxy = TcpProxy(_target(redis_url))
    port = proxy.port
    url = _proxied(redis_url, proxy)
    limiter = RateLimiter(url, failure_policy="closed", recheck_interval=5, clock=lambda: now[0])
    limits = parse_limits("5/minute")
    assert limiter.hit(limits, "k").allowed
    proxy.stop()
    assert limiter.hit(limits, "k").degraded == "closed"
    proxy = TcpProxy(_target(redis_url), port=port)
    try:
        # Within the interval the storage is not tried again.
        assert limiter.hit(limits, "k").degraded == "closed"
        now[0] += 6
        decision = limiter.hit(limits, "k")
        assert decision.degraded is None and decision.allowed
        assert decision.states[0].remaining == 3
    finally:
        proxy.stop()


def test_unreachable_redis_from_the_start_is_no_500() -> None:
    url = "redis://127.0.0.1:9/0?socket_connect_timeout=0.2"
    for kind, call, echo in (("asgi", asgi_call, asgi_echo), ("wsgi", wsgi_call, wsgi_echo)):
        pro = integrate(
            echo(),
            security__rate_limit__default="1/minute",
            security__rate_limit__storage_url=url,
        )
        try:
            assert [call(pro).status for _ in range(3)] == [200, 200, 200], kind
        finally:
            pro.shutdown()


def test_concern_registered_as_component() -> None:
    pro = integrate(wsgi_echo(), security__rate_limit__default="1/minute")
    try:
        assert isinstance(pro.rate_limiter, RateLimitConcern)
    finally:
        pro.shutdown()


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_slow_down_counts_in_redis(redis_url: str, kind: str) -> None:
    from erp_professional.testing import set_testing
    from erp_professional.web import current_exchange

    delays: list[float] = []

    def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
        ex = current_exchange()
        assert ex is not None
        delays.append(ex.state.get("slow_down_delay", 0.0))
        start_response("200 OK", [])
        return [b""]

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        ex = current_exchange()
        assert ex is not None
        delays.append(ex.state.get("slow_down_delay", 0.0))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    pro = integrate(
        asgi_app if kind == "asgi" else wsgi_app,
        security__rate_limit__storage_url=redis_url,
        security__rate_limit__slow_down__after="2/minute",
        security__rate_limit__slow_down__delay_ms=250,
        security__rate_limit__slow_down__max_delay_ms=600,
    )
    call = asgi_call if kind == "asgi" else wsgi_call
    try:
        with set_testing(True):
            for _ in range(5):
                assert call(pro).status == 200
    finally:
        pro.shutdown()
    assert delays == [0.0, 0.0, 0.25, 0.5, 0.6]


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_hung_redis_times_out_into_the_policy(kind: str) -> None:
    import socket

    # A server that accepts connections and never answers: every call would hang
    # without the default socket timeouts.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    call, echo = (asgi_call, asgi_echo) if kind == "asgi" else (wsgi_call, wsgi_echo)
    pro = integrate(
        echo(),
        security__rate_limit__default="1/minute",
        security__rate_limit__storage_url=url,
        security__rate_limit__failure_policy="closed",
    )
    concern = pro.rate_limiter
    try:
        started = time.monotonic()
        first = call(pro)
        elapsed = time.monotonic() - started
        second = call(pro)
    finally:
        pro.shutdown()
        silent.close()
    assert first.status == 503 and second.status == 503
    assert elapsed < 3
    limiter = concern.async_limiter if kind == "asgi" else concern.limiter  # type: ignore[attr-defined]
    # The second request, within the recheck interval, did not wait on Redis again.
    assert limiter.health.failures == 1


def test_decorator_alone_uses_the_configured_storage(redis_url: str) -> None:
    import flask

    from erp_professional.security import rate_limit

    app = flask.Flask("deco")

    @app.post("/export")
    @rate_limit("1/minute")
    def export() -> str:
        return "ok"

    pro = integrate(app, security__rate_limit__storage_url=redis_url)
    client = app.test_client()
    try:
        with client.post("/export") as first:
            assert first.status_code == 200
        with client.post("/export") as second:
            assert second.status_code == 429
            assert second.headers["X-RateLimit-Limit"] == "1"
        with client.get("/") as other:
            assert "X-RateLimit-Limit" not in other.headers  # no global limit configured
    finally:
        pro.shutdown()
    import redis

    assert redis.Redis.from_url(redis_url).keys("erp:ratelimit*fn:*export*")
