"""API key stores: memory, SQL (SQLite and PostgreSQL, parameterised) and Redis."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict
from typing import Any

from ..connections import check_scheme
from ._apikeys import ApiKey, KeyStore

__all__ = [
    "AsyncPostgresKeyStore",
    "AsyncRedisKeyStore",
    "MemoryKeyStore",
    "RedisKeyStore",
    "SqlKeyStore",
    "async_twin",
    "open_store",
]

_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_FIELDS = (
    "id",
    "name",
    "prefix",
    "hash",
    "scopes",
    "created_at",
    "expires_at",
    "revoked_at",
    "last_used_at",
    "rotated_from",
    "hint",
)


def _to_row(record: ApiKey) -> tuple[Any, ...]:
    data = asdict(record)
    data["scopes"] = json.dumps(list(record.scopes))
    return tuple(data[f] for f in _FIELDS)


def _from_row(row: Any) -> ApiKey:
    data = dict(zip(_FIELDS, row, strict=True))
    data["scopes"] = tuple(json.loads(data["scopes"]))
    for name in ("created_at", "expires_at", "revoked_at", "last_used_at"):
        if data[name] is not None:
            data[name] = float(data[name])
    return ApiKey(**data)


class MemoryKeyStore:
    """Keys in this process's memory (tests, single-process apps)."""

    def __init__(self) -> None:
        self._by_id: dict[str, ApiKey] = {}
        self._by_hash: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, record: ApiKey) -> None:
        with self._lock:
            self._by_id[record.id] = record
            self._by_hash[record.hash] = record.id

    def get(self, key_id: str) -> ApiKey | None:
        return self._by_id.get(key_id)

    def by_hash(self, digest: str) -> ApiKey | None:
        key_id = self._by_hash.get(digest)
        return None if key_id is None else self._by_id.get(key_id)

    def all(self) -> list[ApiKey]:
        return list(self._by_id.values())

    def close(self) -> None:
        return None


class SqlKeyStore:
    """Keys in a SQLite or PostgreSQL table (created if missing). Every statement is
    parameterised; the table name is checked against ``[a-z_][a-z0-9_]*``."""

    def __init__(self, url: str, table: str = "erp_api_keys") -> None:
        if not _TABLE.fullmatch(table):
            raise ValueError(f"invalid table name {table!r}")
        self.url = url
        self.kind = check_scheme(url, ("sqlite", "postgresql"), "the API key store").kind
        self.table = table
        self._local = threading.local()
        mark = "?" if self.kind == "sqlite" else "%s"
        marks = ", ".join([mark] * len(_FIELDS))
        updates = ", ".join(f"{f} = excluded.{f}" for f in _FIELDS if f != "id")
        cols = ", ".join(_FIELDS)
        real = "REAL" if self.kind == "sqlite" else "DOUBLE PRECISION"
        self._create = (
            f"CREATE TABLE IF NOT EXISTS {table} ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, prefix TEXT NOT NULL, "
            "hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL, "
            f"created_at {real} NOT NULL, expires_at {real}, revoked_at {real}, "
            f"last_used_at {real}, rotated_from TEXT, hint TEXT NOT NULL)"
        )
        self._put = (
            f"INSERT INTO {table} ({cols}) VALUES ({marks}) "  # noqa: S608 - checked identifier
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        self._get = f"SELECT {cols} FROM {table} WHERE id = {mark}"  # noqa: S608
        self._by_hash = f"SELECT {cols} FROM {table} WHERE hash = {mark}"  # noqa: S608
        self._all = f"SELECT {cols} FROM {table}"  # noqa: S608
        self._execute(self._create, ())

    def _execute(self, sql: str, params: tuple[Any, ...], fetch: bool = False) -> list[Any]:
        if self.kind == "sqlite":
            conn = getattr(self._local, "conn", None)
            if conn is None:
                from ..connections import sqlite_connect

                conn = sqlite_connect(self.url)
                self._local.conn = conn
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if fetch else []
        from ..connections import postgres_pool

        with postgres_pool(self.url).connection() as pg:
            cur = pg.execute(sql, params)
            return list(cur.fetchall()) if fetch else []

    def put(self, record: ApiKey) -> None:
        self._execute(self._put, _to_row(record))

    def get(self, key_id: str) -> ApiKey | None:
        rows = self._execute(self._get, (key_id,), fetch=True)
        return _from_row(rows[0]) if rows else None

    def by_hash(self, digest: str) -> ApiKey | None:
        rows = self._execute(self._by_hash, (digest,), fetch=True)
        return _from_row(rows[0]) if rows else None

    def all(self) -> list[ApiKey]:
        return [_from_row(r) for r in self._execute(self._all, (), fetch=True)]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class RedisKeyStore:
    """Keys in Redis: ``<ns>:key:<id>`` (JSON), ``<ns>:hash:<digest>`` -> id, ``<ns>:ids``."""

    def __init__(self, url: str, namespace: str = "erp:apikeys") -> None:
        check_scheme(url, ("redis",), "the API key store")
        from ..connections import redis_client

        self.client = redis_client(url)
        self.url = url
        self.ns = namespace

    def put(self, record: ApiKey) -> None:
        data = json.dumps(dict(zip(_FIELDS, _to_row(record), strict=True)))
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.ns}:key:{record.id}", data)
        pipe.set(f"{self.ns}:hash:{record.hash}", record.id)
        pipe.sadd(f"{self.ns}:ids", record.id)
        pipe.execute()

    def _load(self, raw: Any) -> ApiKey | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return _from_row(tuple(data[f] for f in _FIELDS))

    def get(self, key_id: str) -> ApiKey | None:
        return self._load(self.client.get(f"{self.ns}:key:{key_id}"))

    def by_hash(self, digest: str) -> ApiKey | None:
        key_id = self.client.get(f"{self.ns}:hash:{digest}")
        if key_id is None:
            return None
        return self.get(key_id.decode() if isinstance(key_id, bytes) else str(key_id))

    def all(self) -> list[ApiKey]:
        ids = sorted(
            i.decode() if isinstance(i, bytes) else str(i)
            for i in self.client.smembers(f"{self.ns}:ids")
        )
        records = [self.get(i) for i in ids]
        return [r for r in records if r is not None]

    def close(self) -> None:
        return None


def open_store(url: str, table: str = "erp_api_keys", namespace: str = "erp:apikeys") -> KeyStore:
    """The store for a backend URL."""
    kind = check_scheme(url, ("memory", "sqlite", "postgresql", "redis"), "the API key store").kind
    if kind == "memory":
        return MemoryKeyStore()
    if kind == "redis":
        return RedisKeyStore(url, namespace)
    return SqlKeyStore(url, table)


class AsyncRedisKeyStore:
    """The asyncio twin of :class:`RedisKeyStore` (same keys, one client per event loop)."""

    def __init__(self, sync: RedisKeyStore, url: str) -> None:
        self.url = url
        self.ns = sync.ns

    def _client(self) -> Any:
        from ..connections import async_redis_client

        return async_redis_client(self.url)

    async def put(self, record: ApiKey) -> None:
        data = json.dumps(dict(zip(_FIELDS, _to_row(record), strict=True)))
        pipe = self._client().pipeline(transaction=True)
        pipe.set(f"{self.ns}:key:{record.id}", data)
        pipe.set(f"{self.ns}:hash:{record.hash}", record.id)
        pipe.sadd(f"{self.ns}:ids", record.id)
        await pipe.execute()

    async def get(self, key_id: str) -> ApiKey | None:
        raw = await self._client().get(f"{self.ns}:key:{key_id}")
        if raw is None:
            return None
        data = json.loads(raw)
        return _from_row(tuple(data[f] for f in _FIELDS))

    async def by_hash(self, digest: str) -> ApiKey | None:
        key_id = await self._client().get(f"{self.ns}:hash:{digest}")
        if key_id is None:
            return None
        return await self.get(key_id.decode() if isinstance(key_id, bytes) else str(key_id))


class AsyncPostgresKeyStore:
    """The asyncio twin of :class:`SqlKeyStore` on PostgreSQL (psycopg's async pool)."""

    def __init__(self, sync: SqlKeyStore) -> None:
        self.url = sync.url
        self._put = sync._put
        self._get = sync._get
        self._by_hash = sync._by_hash

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        from ..connections import async_postgres_pool

        pool = await async_postgres_pool(self.url)
        async with pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())

    async def put(self, record: ApiKey) -> None:
        from ..connections import async_postgres_pool

        pool = await async_postgres_pool(self.url)
        async with pool.connection() as conn:
            await conn.execute(self._put, _to_row(record))

    async def get(self, key_id: str) -> ApiKey | None:
        rows = await self._fetch(self._get, (key_id,))
        return _from_row(rows[0]) if rows else None

    async def by_hash(self, digest: str) -> ApiKey | None:
        rows = await self._fetch(self._by_hash, (digest,))
        return _from_row(rows[0]) if rows else None


AsyncKeyStore = AsyncRedisKeyStore | AsyncPostgresKeyStore


def async_twin(store: KeyStore) -> AsyncKeyStore | None:
    """The native asyncio face of ``store``, when it has one (Redis, PostgreSQL)."""
    if isinstance(store, RedisKeyStore):
        return AsyncRedisKeyStore(store, store.url)
    if isinstance(store, SqlKeyStore) and store.kind == "postgresql":
        return AsyncPostgresKeyStore(store)
    return None
