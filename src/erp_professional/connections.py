"""Backend URLs to pooled clients: one pool per URL per process (per event loop for async).

Supported schemes: ``memory://``, ``sqlite:///path.db``, ``redis://``, ``rediss://``,
``unix://`` (Redis over a socket), ``postgresql://`` (also ``postgres://``). Pools are dropped
in a forked child (the parent's sockets are never shared) and closed by :func:`shutdown`
or :func:`aclose`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import psycopg_pool
    import redis
    import redis.asyncio

__all__ = [
    "BackendURL",
    "MissingDependencyError",
    "SUPPORTED_SCHEMES",
    "aclose",
    "async_postgres_pool",
    "async_redis_client",
    "check_scheme",
    "parse_url",
    "postgres_pool",
    "redis_client",
    "shutdown",
    "sqlite_connect",
    "sqlite_path",
]

SUPPORTED_SCHEMES = ("memory", "sqlite", "redis", "rediss", "unix", "postgresql", "postgres")
_KIND = {
    "memory": "memory",
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}


class MissingDependencyError(ImportError):
    """A backend or feature needs an optional package that is not installed."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package: pip install 'erp-professional[{extra}]'"
        )
        self.package = package
        self.extra = extra


@dataclass(frozen=True, slots=True)
class BackendURL:
    """A parsed backend URL: ``kind`` is memory, sqlite, redis or postgresql."""

    url: str
    scheme: str
    kind: str
    path: str


def parse_url(url: str) -> BackendURL:
    """Parse and check a backend URL; unknown schemes name the supported ones."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"not a backend URL: {url!r} (expected one of "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
            + ")"
        )
    scheme = url.split("://", 1)[0].lower()
    kind = _KIND.get(scheme)
    if kind is None:
        raise ValueError(
            f"unsupported URL scheme {scheme!r} in {url!r}; supported: "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        )
    return BackendURL(url=url, scheme=scheme, kind=kind, path=unquote(urlsplit(url).path))


def check_scheme(url: str, supported: tuple[str, ...], capability: str) -> BackendURL:
    """Parse ``url`` and require its kind to be one of ``supported`` for ``capability``."""
    parsed = parse_url(url)
    if parsed.kind not in supported:
        raise ValueError(
            f"{capability} does not support {parsed.scheme}:// URLs; use one of: "
            + ", ".join(f"{s}://" for s in supported)
        )
    return parsed


class _Registry:
    """Process-wide caches, emptied (not closed) in a forked child."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.sync: dict[tuple[str, str], Any] = {}
        self.per_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str], Any]
        ]
        self.per_loop = weakref.WeakKeyDictionary()

    def reset_after_fork(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.sync = {}
        self.per_loop = weakref.WeakKeyDictionary()


_REGISTRY = _Registry()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_REGISTRY.reset_after_fork)


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a core dependency
        raise MissingDependencyError("redis", "redis", "redis:// URLs") from None
    return redis


def _import_psycopg_pool() -> Any:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool
    except ImportError:
        raise MissingDependencyError("psycopg", "postgres", "postgresql:// URLs") from None
    return psycopg_pool


def _pg_conninfo(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def redis_client(url: str) -> redis.Redis:
    """The shared synchronous Redis client for ``url`` in this process."""
    check_scheme(url, ("redis",), "redis_client")
    key = ("redis", url)
    with _REGISTRY.lock:
        client = _REGISTRY.sync.get(key)
        if client is None:
            client = _import_redis().Redis.from_url(url, health_check_interval=30)
            _REGISTRY.sync[key] = client
    return client  # type: ignore[no-any-return]


def _loop_cache() -> dict[tuple[str, str], Any]:
    loop = asyncio.get_running_loop()
    cache = _REGISTRY.per_loop.get(loop)
    if cache is None:
        cache = {}
        _REGISTRY.per_loop[loop] = cache
    return cache


def async_redis_client(url: str) -> redis.asyncio.Redis:
    """The shared asyncio Redis client for ``url`` in this process and running event loop."""
    check_scheme(url, ("redis",), "async_redis_client")
    cache = _loop_cache()
    client = cache.get(("redis", url))
    if client is None:
        _import_redis()
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url, health_check_interval=30)
        cache[("redis", url)] = client
    return client


def postgres_pool(url: str, *, max_size: int = 10) -> psycopg_pool.ConnectionPool:
    """The shared, opened synchronous PostgreSQL pool for ``url`` in this process."""
    check_scheme(url, ("postgresql",), "postgres_pool")
    key = ("postgresql", url)
    with _REGISTRY.lock:
        pool = _REGISTRY.sync.get(key)
        if pool is None:
            module = _import_psycopg_pool()
            pool = module.ConnectionPool(
                _pg_conninfo(url), min_size=1, max_size=max_size, open=False
            )
            pool.open()
            _REGISTRY.sync[key] = pool
    return pool  # type: ignore[no-any-return]


async def async_postgres_pool(url: str, *, max_size: int = 10) -> psycopg_pool.AsyncConnectionPool:
    """The shared, opened asyncio PostgreSQL pool for ``url`` in this process and loop."""
    check_scheme(url, ("postgresql",), "async_postgres_pool")
    cache = _loop_cache()
    pool = cache.get(("postgresql", url))
    if pool is None:
        module = _import_psycopg_pool()
        pool = module.AsyncConnectionPool(
            _pg_conninfo(url), min_size=1, max_size=max_size, open=False
        )
        cache[("postgresql", url)] = pool
        await pool.open()
    return pool  # type: ignore[no-any-return]


def sqlite_path(url: str) -> str:
    """The database path of a ``sqlite:///relative.db`` or ``sqlite:////abs.db`` URL."""
    check_scheme(url, ("sqlite",), "sqlite_path")
    rest = unquote(url.split("://", 1)[1].split("?", 1)[0])
    if rest in ("", "/", "/:memory:", ":memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise ValueError(f"sqlite URL needs three slashes: sqlite:///{rest} (got {url!r})")
    return rest[1:]


def sqlite_connect(url: str, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A new SQLite connection with WAL, a busy timeout and foreign keys on.

    SQLite connections are cheap and not shareable across threads, so this is not pooled:
    callers keep one per thread or per unit of work.
    """
    path = sqlite_path(url)
    if path != ":memory:":
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def shutdown() -> None:
    """Close every synchronous pool of this process (idempotent)."""
    with _REGISTRY.lock:
        clients = list(_REGISTRY.sync.values())
        _REGISTRY.sync.clear()
    for client in clients:
        client.close()


async def aclose() -> None:
    """Close the running loop's async clients and every synchronous pool (idempotent)."""
    loop = asyncio.get_running_loop()
    cache = _REGISTRY.per_loop.pop(loop, {})
    for (kind, _), client in cache.items():
        if kind == "redis":
            await client.aclose()
        else:
            await client.close()
    shutdown()
