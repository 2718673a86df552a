"""Health checks: probe cost in-process and readiness latency with slow checks.

Figures (medians over repeats, one line each). Per-request costs are process CPU time
(every thread of the process, not time lost to other processes on a busy machine); the
slow-check figures are wall-clock time to the answer.

* ``livez in-process (ASGI)``: one ``GET /_pro/livez`` through ``integrate()``'s ASGI
  driver with a prepared call loop (no server, no network), against a bare Starlette
  route answering ``ok`` (the least a service can do for a probe);
* ``readyz cached, 10 checks (ASGI)``: ``GET /_pro/readyz`` while the ten results are
  cached, against the same bare Starlette route;
* ``livez in-process (WSGI)``: the same probe through the WSGI driver, against a bare
  Flask route;
* ``readyz, ten 100 ms async checks`` and ``ten 100 ms sync checks``: one probe with
  caching off, against fastapi-health with the same ten conditions.

Run: ``.venv/bin/python benchmarks/health.py`` (``--quick`` for fewer repeats). Peers:
starlette, flask, fastapi, fastapi-health.
"""

# ruff: noqa: E402 - the standard imports follow the sys.path fix below on purpose
from __future__ import annotations

import sys
from pathlib import Path

# Scripts in benchmarks/ are named after capabilities (queue.py, ...): with their folder
# first on sys.path they would shadow standard modules, so the helpers are imported from
# the repository root as ``benchmarks._common``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import drive_asgi, emit, figure, http_scope, median

from erp_professional import integrate

QUIET = {
    "observability__enabled": False,
    "security__enabled": False,
    "health__memory": False,
    "health__event_loop_lag": False,
    "health__breakers": False,
}


async def _plain_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def _new_plain() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _plain_asgi(scope, receive, send)

    return app


def _ours_asgi(**overrides: Any) -> Any:
    return integrate(_new_plain(), **{**QUIET, **overrides})


def _starlette_ok() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def livez(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/_pro/livez", livez), Route("/_pro/readyz", livez)])


def _paired(apps: dict[str, Any], path: str, n: int, repeats: int) -> dict[str, float]:
    """Median seconds per request of each app, measured in alternation (noise hits all)."""
    template = http_scope(path)

    async def run() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in apps}
        for app in apps.values():
            await drive_asgi(app, template, max(100, n // 10))  # warm up
        for _ in range(repeats):
            for name, app in apps.items():
                elapsed, statuses = await drive_asgi(app, template, n)
                if set(statuses) != {200}:
                    raise RuntimeError(f"{name} {path}: unexpected statuses {dict(statuses)}")
                times[name].append(elapsed / n)
        return times

    return {name: median(values) for name, values in asyncio.run(run()).items()}


def livez_asgi(n: int, repeats: int) -> None:
    apps = {"ours": _ours_asgi(), "full": integrate(_new_plain()), "peer": _starlette_ok()}
    got = _paired(apps, "/_pro/livez", n, repeats)
    us = {name: value * 1e6 for name, value in got.items()}
    emit(figure("livez in-process (ASGI)", us["ours"], us["peer"], "starlette route", "us"))
    emit(
        figure(
            "livez in-process, every capability on (ASGI)",
            us["full"],
            us["peer"],
            "starlette route",
            "us",
        )
    )


def readyz_cached(n: int, repeats: int) -> None:
    pro = _ours_asgi(health__cache_ttl=300)
    for i in range(10):
        pro.health.register(f"dep{i}", lambda: True)
    pro.health.run("readiness")
    got = _paired({"ours": pro, "peer": _starlette_ok()}, "/_pro/readyz", n, repeats)
    emit(
        figure(
            "readyz cached, 10 checks (ASGI)",
            got["ours"] * 1e6,
            got["peer"] * 1e6,
            "starlette route",
            "us",
        )
    )


def livez_wsgi(n: int, repeats: int) -> None:
    from flask import Flask
    from werkzeug.test import EnvironBuilder

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"app"]

    ours_app = integrate(wsgi, **QUIET)
    flask = Flask("peer")
    flask.add_url_rule("/_pro/livez", "livez", lambda: "ok")
    environ = EnvironBuilder(path="/_pro/livez").get_environ()

    def per_request(app: Callable[..., Any]) -> list[float]:
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            statuses.append(status)

        def once() -> None:
            body = app(dict(environ), start_response)
            for _ in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()

        start = time.process_time()
        for _ in range(n):
            once()
        elapsed = (time.process_time() - start) / n
        if any(not s.startswith("200") for s in statuses):
            raise RuntimeError("unexpected WSGI status")
        return [elapsed]

    per_request(ours_app)
    per_request(flask.wsgi_app)
    ours_times: list[float] = []
    peer_times: list[float] = []
    for _ in range(repeats):
        ours_times += per_request(ours_app)
        peer_times += per_request(flask.wsgi_app)
    ours, peer = median(ours_times), median(peer_times)
    emit(figure("livez in-process (WSGI)", ours * 1e6, peer * 1e6, "flask route", "us"))
    ours_app.shutdown()


def _fastapi_health(conditions: list[Callable[..., Any]]) -> Any:
    from fastapi import FastAPI
    from fastapi_health import health

    app = FastAPI()
    app.add_api_route("/health", health(conditions))
    return app


def _one_probe(app: Any, path: str, repeats: int) -> float:
    template = http_scope(path)

    async def run() -> list[float]:
        times = []
        await drive_asgi(app, template, 1, clock=time.perf_counter)
        for _ in range(repeats):
            # Wall-clock time: the figure is how long the probe takes to answer.
            elapsed, statuses = await drive_asgi(app, template, 1, clock=time.perf_counter)
            if set(statuses) != {200}:
                raise RuntimeError(f"{path}: unexpected statuses {dict(statuses)}")
            times.append(elapsed)
        return times

    return median(asyncio.run(run()))


def _async_condition(i: int) -> Callable[[], Any]:
    async def condition() -> bool:
        await asyncio.sleep(0.1)
        return True

    condition.__name__ = f"dep{i}"
    return condition


def _sync_condition(i: int) -> Callable[[], Any]:
    def condition() -> bool:
        time.sleep(0.1)
        return True

    condition.__name__ = f"dep{i}"
    return condition


def readyz_slow(repeats: int, make: Callable[[int], Callable[[], Any]], label: str) -> None:
    pro = _ours_asgi(health__cache_ttl=0)
    conditions = [make(i) for i in range(10)]
    for i, condition in enumerate(conditions):
        pro.health.register(f"dep{i}", condition)
    ours = _one_probe(pro, "/_pro/readyz", repeats)
    peer = _one_probe(_fastapi_health(conditions), "/health", repeats)
    emit(
        figure(f"readyz, ten 100 ms {label} checks", ours * 1e3, peer * 1e3, "fastapi-health", "ms")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and repeats")
    args = parser.parse_args()
    logging.getLogger("erp_professional").setLevel(logging.WARNING)
    n, repeats = (2000, 3) if args.quick else (20000, 7)
    livez_asgi(n, repeats)
    readyz_cached(n, repeats)
    livez_wsgi(n // 4, repeats)
    readyz_slow(3 if args.quick else 5, _async_condition, "async")
    readyz_slow(3 if args.quick else 5, _sync_condition, "sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
