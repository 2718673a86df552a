"""Security benchmark: per-request cost added in-process, ours vs named peers, same run.

Drives a prepared ASGI scope/receive/send loop (no sockets) through a one-route Starlette
app, bare and wrapped, in interleaved rounds; a figure is the median over rounds of
(wrapped time - bare time) per request, so the app's own cost cancels out. Times are the
benchmark thread's CPU time (``time.thread_time``), so a busy machine does not inflate them.

Peers: ``secure`` (SecureASGIMiddleware), ``slowapi`` (SlowAPIASGIMiddleware, memory),
``starlette-csrf`` (CSRFMiddleware).

    .venv/bin/python benchmarks/security.py            # 7 rounds x 3000 requests
    .venv/bin/python benchmarks/security.py --quick    # 5 rounds x 800 requests
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from erp_professional.security import (
    BodyLimitsConcern,
    CsrfConcern,
    HeadersConcern,
    RateLimitConcern,
    SecurityHeaders,
)
from erp_professional.web import AsgiDriver, Pipeline

App = Callable[..., Awaitable[None]]


def starlette_app(middleware: list[Middleware] | None = None) -> Starlette:
    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", home, methods=["GET", "POST"])], middleware=middleware)


def scope(method: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("203.0.113.9", 40000),
        "server": ("testserver", 80),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def run_many(app: App, base: dict[str, Any], n: int) -> float:
    """CPU seconds of this thread per request over ``n`` requests.

    Thread CPU time, not wall time: other processes on a busy machine do not inflate it.
    """
    started = time.thread_time()
    for _ in range(n):
        await app(dict(base), _receive, _send)
    return (time.thread_time() - started) / n


def ours(*concerns: Any) -> App:
    return AsgiDriver(starlette_app(), Pipeline(list(concerns)))


def peer_secure() -> App:
    from secure.middleware import SecureASGIMiddleware

    return starlette_app([Middleware(SecureASGIMiddleware)])


def peer_slowapi() -> App:
    from slowapi import Limiter
    from slowapi.middleware import SlowAPIASGIMiddleware
    from slowapi.util import get_remote_address

    app = starlette_app([Middleware(SlowAPIASGIMiddleware)])
    app.state.limiter = Limiter(key_func=get_remote_address, default_limits=["100000000/minute"])
    return app


def peer_csrf() -> App:
    from starlette_csrf import CSRFMiddleware

    return starlette_app([Middleware(CSRFMiddleware, secret="s" * 32)])


def peer_stack() -> App:
    from secure.middleware import SecureASGIMiddleware
    from slowapi import Limiter
    from slowapi.middleware import SlowAPIASGIMiddleware
    from slowapi.util import get_remote_address
    from starlette_csrf import CSRFMiddleware

    app = starlette_app(
        [
            Middleware(SecureASGIMiddleware),
            Middleware(SlowAPIASGIMiddleware),
            Middleware(CSRFMiddleware, secret="s" * 32),
        ]
    )
    app.state.limiter = Limiter(key_func=get_remote_address, default_limits=["100000000/minute"])
    return app


def our_stack() -> App:
    return ours(
        HeadersConcern(SecurityHeaders("helmet")),
        RateLimitConcern(default="100000000/minute"),
        CsrfConcern(),
        BodyLimitsConcern(),
    )


def csrf_token_headers() -> list[tuple[bytes, bytes]]:
    from itsdangerous import URLSafeSerializer

    token = URLSafeSerializer("s" * 32, "csrftoken").dumps("0123456789abcdef")
    return [
        (b"cookie", f"csrftoken={token}".encode()),
        (b"x-csrftoken", token.encode()),
        (b"origin", b"http://testserver"),
        (b"sec-fetch-site", b"same-origin"),
    ]


def measure(
    variants: dict[str, tuple[App, str]], base: dict[str, Any], rounds: int, n: int
) -> dict[str, float]:
    """Median over rounds of the per-request time each variant adds over its baseline.

    ``variants`` maps a name to ``(app, baseline name)``; baselines map to ``(app, "")``.
    """
    added: dict[str, list[float]] = {name: [] for name, (_, b) in variants.items() if b}

    async def main() -> None:
        for app, _ in variants.values():  # warm up (caches, first limiter hits)
            await run_many(app, base, 50)
        for _ in range(rounds):
            times = {name: await run_many(app, base, n) for name, (app, _) in variants.items()}
            for name, (_, baseline) in variants.items():
                if baseline:
                    added[name].append(times[name] - times[baseline])

    asyncio.run(main())
    return {name: statistics.median(values) for name, values in added.items()}


def line(figure: str, our: float, peer_name: str | None = None, peer: float | None = None) -> None:
    text = f"{figure}: ours={our * 1e6:.2f}us"
    if peer_name is not None and peer is not None:
        ratio = peer / our if our > 0 else float("inf")
        text += f" peer({peer_name})={peer * 1e6:.2f}us ratio={ratio:.1f}x (peer/ours)"
    print(text, flush=True)


def hook_figures(n: int) -> None:
    """The concerns' own hooks called directly on an exchange: their intrinsic cost."""
    from erp_professional.web import Exchange, Pipeline, ResponseHeaders

    class AsgiResponseHeaders(ResponseHeaders):
        """Response headers held as the ASGI driver holds them: a list of byte pairs."""

        def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
            self.raw = raw

        def get(self, name: str, default: str | None = None) -> str | None:
            key = name.lower().encode("latin-1")
            return next((v.decode("latin-1") for k, v in self.raw if k == key), default)

        def set(self, name: str, value: str) -> None:
            self.remove(name)
            self.add(name, value)

        def add(self, name: str, value: str) -> None:
            self.raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))

        def remove(self, name: str) -> None:
            key = name.lower().encode("latin-1")
            self.raw[:] = [item for item in self.raw if item[0] != key]

        def items(self) -> Any:
            return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw)

    pipeline = Pipeline()
    post = scope("POST", [(b"origin", b"http://testserver")])

    def cpu(fn: Callable[[], object]) -> float:
        started = time.thread_time()
        for _ in range(n):
            fn()
        return (time.thread_time() - started) / n

    def base() -> object:
        exchange = Exchange.from_asgi(dict(post), pipeline)
        headers = AsgiResponseHeaders([(b"content-type", b"text/plain"), (b"content-length", b"2")])
        return exchange, headers

    def run(concern: Any) -> Callable[[], object]:
        def call() -> object:
            exchange = Exchange.from_asgi(dict(post), pipeline)
            headers = AsgiResponseHeaders(
                [(b"content-type", b"text/plain"), (b"content-length", b"2")]
            )
            if concern.overrides("on_request"):
                concern.on_request(exchange)
            concern.on_response(exchange, headers)
            return headers

        return call

    concerns = {
        "headers (helmet)": HeadersConcern(SecurityHeaders("helmet")),
        "CSRF (same-origin POST)": CsrfConcern(),
        "rate limit (memory)": RateLimitConcern(default="100000000/minute"),
    }
    for name, concern in concerns.items():
        samples = []
        for _ in range(5):
            floor = cpu(base)
            samples.append(cpu(run(concern)) - floor)
        print(f"hook cost only, {name}: ours={statistics.median(samples) * 1e6:.2f}us")


def false_positive_figure() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "security"))
    from _corpus import ATTACKS_SQL, ATTACKS_XSS, benign_corpus

    from erp_professional.security import InjectionDetector

    detector = InjectionDetector()
    corpus = benign_corpus(20000)
    flagged = sum(1 for text in corpus if detector.scan(text))
    attacks = ATTACKS_SQL + ATTACKS_XSS
    caught = sum(1 for text in attacks if detector.scan(text))
    started = time.perf_counter()
    for text in corpus[:5000]:
        detector.scan(text)
    per_scan = (time.perf_counter() - started) / 5000
    print(
        f"injection detector false positives: {flagged}/{len(corpus)} "
        f"({100 * flagged / len(corpus):.3f}%) benign strings; "
        f"detected {caught}/{len(attacks)} attack strings; {per_scan * 1e6:.1f}us per string"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, n = (5, 800) if args.quick else (7, 3000)
    print(f"# {rounds} rounds x {n} requests per variant, medians of added time per request")

    get = scope("GET", [])
    post = scope("POST", [(b"origin", b"http://testserver")])
    post_peer = scope("POST", csrf_token_headers())
    bare = (starlette_app(), "")
    driver = (ours(), "")  # the lifecycle driver with no concern: per-concern baseline

    headers = measure(
        {
            "bare": bare,
            "driver": driver,
            "ours": (ours(HeadersConcern(SecurityHeaders("helmet"))), "driver"),
            "peer": (peer_secure(), "bare"),
        },
        get,
        rounds,
        n,
    )
    line("security headers (helmet preset) per request", headers["ours"], "secure", headers["peer"])

    csrf_ours = measure(
        {"bare": bare, "driver": driver, "ours": (ours(CsrfConcern()), "driver")}, post, rounds, n
    )
    csrf_peer = measure({"bare": bare, "peer": (peer_csrf(), "bare")}, post_peer, rounds, n)
    line("CSRF check on a same-origin POST", csrf_ours["ours"], "starlette-csrf", csrf_peer["peer"])

    limit = measure(
        {
            "bare": bare,
            "driver": driver,
            "ours": (ours(RateLimitConcern(default="100000000/minute")), "driver"),
            "peer": (peer_slowapi(), "bare"),
        },
        get,
        rounds,
        n,
    )
    line("rate limit (memory, fixed window) per request", limit["ours"], "slowapi", limit["peer"])

    # The whole stack includes the driver itself: both sides pay their full way in.
    stack_get = measure(
        {"bare": bare, "ours": (our_stack(), "bare"), "peer": (peer_stack(), "bare")},
        get,
        rounds,
        n,
    )
    line(
        "whole security stack, GET",
        stack_get["ours"],
        "secure+slowapi+starlette-csrf",
        stack_get["peer"],
    )
    stack_post_ours = measure({"bare": bare, "ours": (our_stack(), "bare")}, post, rounds, n)
    stack_post_peer = measure({"bare": bare, "peer": (peer_stack(), "bare")}, post_peer, rounds, n)
    line(
        "whole security stack, same-origin POST",
        stack_post_ours["ours"],
        "secure+slowapi+starlette-csrf",
        stack_post_peer["peer"],
    )
    hook_figures(4000 if args.quick else 20000)
    false_positive_figure()


if __name__ == "__main__":
    main()
