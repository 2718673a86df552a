"""Built-in checks of dependencies: Redis, SQL databases (SQLite, PostgreSQL), HTTP services.

They use the shared pooled clients of :mod:`erp_professional.connections`. Called, they are
synchronous (the registry runs them in threads under their timeouts); Redis and SQL checks
also have an ``acheck()`` twin on the event loop's own asyncio clients, which a registry
with ``prefer_async`` (ASGI apps) uses from :meth:`~HealthRegistry.arun`.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections.abc import Collection
from urllib.parse import urlsplit

from .. import connections
from ._result import CheckResult
from ._system import check_thresholds, grade

__all__ = ["HttpCheck", "RedisCheck", "SqlCheck", "display_url", "dependency_check"]


def display_url(url: str) -> str:
    """``url`` without credentials or query, for messages: ``redis://127.0.0.1:6379/0``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "refused" not in text.lower() and _refused(exc):
        text += " (connection refused)"
    return text if len(text) <= 300 else text[:297] + "..."


def _refused(exc: BaseException) -> bool:
    """Whether a connection refusal is anywhere in the exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _latency(begin: float) -> float:
    return (time.perf_counter() - begin) * 1000.0


class RedisCheck:
    """``PING`` round trip to Redis, in milliseconds."""

    component_type = "datastore"

    def __init__(self, url: str, *, warn_ms: float | None = None) -> None:
        connections.check_scheme(url, ("redis",), "RedisCheck")
        check_thresholds(warn_ms, None, higher_is_worse=True)
        self.url = url
        self.warn = warn_ms

    def __call__(self) -> CheckResult:
        client = connections.redis_client(self.url)
        begin = time.perf_counter()
        try:
            client.ping()
        except Exception as exc:
            return self._unreachable(exc)
        return self._graded(begin)

    async def acheck(self) -> CheckResult:
        """The same check with the event loop's own asyncio client (no thread)."""
        client = connections.async_redis_client(self.url)
        begin = time.perf_counter()
        try:
            await client.ping()
        except Exception as exc:
            return self._unreachable(exc)
        return self._graded(begin)

    def _unreachable(self, exc: Exception) -> CheckResult:
        return CheckResult.fail(f"Redis at {display_url(self.url)} is unreachable: {_reason(exc)}")

    def _graded(self, begin: float) -> CheckResult:
        return grade(_latency(begin), "ms", warn=self.warn, fail=None, what="PING round trip")

    def __repr__(self) -> str:
        return f"RedisCheck({display_url(self.url)!r})"


class SqlCheck:
    """``SELECT 1`` round trip to SQLite or PostgreSQL, in milliseconds.

    PostgreSQL goes through the shared pool; when the pool cannot hand out a connection
    within ``pool_wait`` seconds a direct connection is tried, so the output says why
    (``connection refused``) rather than only that the pool timed out.
    """

    component_type = "datastore"

    def __init__(self, url: str, *, warn_ms: float | None = None, pool_wait: float = 0.5) -> None:
        self.kind = connections.check_scheme(url, ("sqlite", "postgresql"), "SqlCheck").kind
        check_thresholds(warn_ms, None, higher_is_worse=True)
        if not (pool_wait > 0):
            raise ValueError("pool_wait must be > 0 seconds")
        self.url = url
        self.warn = warn_ms
        self.pool_wait = float(pool_wait)

    def __call__(self) -> CheckResult:
        if self.kind == "sqlite":
            return self._sqlite()
        return self._postgres()

    def _sqlite(self) -> CheckResult:
        path = connections.sqlite_path(self.url)
        if path != ":memory:" and not os.path.exists(path):
            return CheckResult.fail(f"SQLite database {path} does not exist")
        begin = time.perf_counter()
        try:
            conn = connections.sqlite_connect(self.url, timeout=self.pool_wait)
            try:
                conn.execute("SELECT 1").fetchone()
            finally:
                conn.close()
        except Exception as exc:
            return CheckResult.fail(f"SQLite database {path} is unusable: {_reason(exc)}")
        return grade(_latency(begin), "ms", warn=self.warn, fail=None, what="SELECT 1 round trip")

    def _postgres(self) -> CheckResult:
        try:
            pool = connections.postgres_pool(self.url)
        except connections.MissingDependencyError as exc:
            return CheckResult.fail(str(exc))
        begin = time.perf_counter()
        try:
            with pool.connection(timeout=self.pool_wait) as conn:
                conn.execute("SELECT 1").fetchone()
        except Exception as exc:
            if type(exc).__name__ != "PoolTimeout":
                return self._failed(exc)
            return self._pool_timeout(self._diagnose())
        return grade(_latency(begin), "ms", warn=self.warn, fail=None, what="SELECT 1 round trip")

    async def acheck(self) -> CheckResult:
        """The same check with the event loop's own asyncio pool (SQLite: in a thread)."""
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite)
        try:
            pool = await connections.async_postgres_pool(self.url)
        except connections.MissingDependencyError as exc:
            return CheckResult.fail(str(exc))
        begin = time.perf_counter()
        try:
            async with pool.connection(timeout=self.pool_wait) as conn:
                await (await conn.execute("SELECT 1")).fetchone()
        except Exception as exc:
            if type(exc).__name__ != "PoolTimeout":
                return self._failed(exc)
            return self._pool_timeout(await self._adiagnose())
        return grade(_latency(begin), "ms", warn=self.warn, fail=None, what="SELECT 1 round trip")

    def _failed(self, exc: Exception) -> CheckResult:
        return CheckResult.fail(f"PostgreSQL at {display_url(self.url)} failed: {_reason(exc)}")

    def _pool_timeout(self, diagnosis: str | None) -> CheckResult:
        if diagnosis is None:
            diagnosis = (
                f"is up but the pool gave no connection within {self.pool_wait:g}s (exhausted)"
            )
        return CheckResult.fail(f"PostgreSQL at {display_url(self.url)} {diagnosis}")

    def _conninfo(self) -> str:
        return "postgresql://" + self.url.split("://", 1)[1]

    def _diagnose(self) -> str | None:
        """Why the pool has no connection: a direct attempt's error (``None`` if it works)."""
        import psycopg

        try:
            direct = psycopg.connect(self._conninfo(), connect_timeout=2)
        except Exception as exc:
            return f"is unreachable: {_reason(exc)}"
        direct.close()
        return None

    async def _adiagnose(self) -> str | None:
        import psycopg

        try:
            direct = await psycopg.AsyncConnection.connect(self._conninfo(), connect_timeout=2)
        except Exception as exc:
            return f"is unreachable: {_reason(exc)}"
        await direct.close()
        return None

    def __repr__(self) -> str:
        return f"SqlCheck({display_url(self.url)!r})"


class HttpCheck:
    """A ``GET`` of an HTTP dependency: pass on an expected status, with the latency in ms."""

    component_type = "component"

    def __init__(
        self,
        url: str,
        *,
        expect_status: Collection[int] | None = None,
        request_timeout: float = 2.0,
        warn_ms: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError(f"HttpCheck needs an http:// or https:// URL, got {url!r}")
        if not (request_timeout > 0):
            raise ValueError("request_timeout must be > 0 seconds")
        check_thresholds(warn_ms, None, higher_is_worse=True)
        self.url = url
        self.expect_status = None if expect_status is None else frozenset(expect_status)
        self.request_timeout = float(request_timeout)
        self.warn = warn_ms
        self.headers = {"User-Agent": "erp-professional-health", **(headers or {})}

    def __call__(self) -> CheckResult:
        request = urllib.request.Request(self.url, headers=self.headers, method="GET")  # noqa: S310
        begin = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except Exception as exc:
            reason = getattr(exc, "reason", None) or exc
            return CheckResult.fail(f"{display_url(self.url)} is unreachable: {_reason(reason)}")
        latency = _latency(begin)
        expected = status in self.expect_status if self.expect_status else 200 <= status < 400
        if not expected:
            return CheckResult.fail(
                f"{display_url(self.url)} answered HTTP {status}", round(latency, 3), "ms"
            )
        return grade(latency, "ms", warn=self.warn, fail=None, what="response time")

    def __repr__(self) -> str:
        return f"HttpCheck({display_url(self.url)!r})"


def dependency_check(
    url: str, *, warn_ms: float | None = None
) -> RedisCheck | SqlCheck | HttpCheck:
    """The built-in check for a dependency URL (redis://, postgresql://, sqlite:///, http(s)://)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return HttpCheck(url, warn_ms=warn_ms)
    kind = connections.parse_url(url).kind
    if kind == "redis":
        return RedisCheck(url, warn_ms=warn_ms)
    if kind in ("sqlite", "postgresql"):
        return SqlCheck(url, warn_ms=warn_ms)
    raise ValueError(
        f"no health check for {url!r}: use redis://, postgresql://, sqlite:/// or http(s):// URLs"
    )
