"""API keys: generation, keyed hashing, verification, rotation (sans-I/O core + managers).

A key looks like ``erp_4Vq…Zk1a2B3c``: a prefix, ``_``, 22 base62 characters of secret
(131 bits) and a 6-character CRC32 checksum that rejects typos and garbage before any
store lookup. Only ``HMAC-SHA256(pepper, key)`` is stored; the secret is shown once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

__all__ = [
    "ApiKey",
    "ApiKeyError",
    "ApiKeys",
    "AsyncApiKeys",
    "KeyStore",
    "NewApiKey",
    "generate_key",
    "key_checksum_ok",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_CHARS = 22
CHECKSUM_CHARS = 6
_KEY = re.compile(rf"^([a-z][a-z0-9]{{1,15}})_([0-9A-Za-z]{{{SECRET_CHARS + CHECKSUM_CHARS}}})$")
LAST_USED_EVERY = 60.0
"""Seconds between writes of ``last_used_at`` for one key (bounds store writes)."""


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_CHARS)


def generate_key(prefix: str = "erp") -> str:
    """A new key ``<prefix>_<22 base62 secret><6 base62 checksum>``."""
    if not re.fullmatch(r"[a-z][a-z0-9]{1,15}", prefix):
        raise ValueError(
            "an API key prefix is 2-16 lowercase letters or digits, starting with a letter"
        )
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS))
    body = f"{prefix}_{secret}"
    return body + _checksum(body)


def key_checksum_ok(key: str) -> bool:
    """True when ``key`` is well formed and its checksum matches (no store needed)."""
    match = _KEY.fullmatch(key) if isinstance(key, str) and len(key) < 64 else None
    if match is None:
        return False
    body = key[:-CHECKSUM_CHARS]
    return hmac.compare_digest(_checksum(body), key[-CHECKSUM_CHARS:])


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: everything but the secret."""

    id: str
    name: str
    prefix: str
    hash: str = field(repr=False)
    scopes: tuple[str, ...] = ()
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None
    rotated_from: str | None = None
    hint: str = ""
    """The last four characters, to tell keys apart in listings."""

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def has_scopes(self, required: Iterable[str]) -> bool:
        granted = set(self.scopes)
        return "*" in granted or set(required) <= granted

    def public(self) -> dict[str, object]:
        """A JSON-ready view without the hash."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "hint": self.hint,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "rotated_from": self.rotated_from,
        }


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly made key: ``secret`` is the only copy and is never stored."""

    record: ApiKey
    secret: str = field(repr=False)


class ApiKeyError(Exception):
    """Verification failed: ``status`` is 401 (no/invalid key) or 403 (missing scope)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class KeyStore(Protocol):
    """Where key records live. Implementations: memory, SQL (SQLite/PostgreSQL), Redis."""

    def put(self, record: ApiKey) -> None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def by_hash(self, digest: str) -> ApiKey | None: ...

    def all(self) -> list[ApiKey]: ...

    def close(self) -> None: ...


class ApiKeys:
    """Create, verify, revoke and rotate keys in a store (synchronous face).

    ``pepper`` is the HMAC key of the stored hashes; keep it outside the store (env var,
    secret manager). The memory store may omit it (a random one is made per process).
    """

    def __init__(
        self,
        store: KeyStore | str = "memory://",
        *,
        pepper: str | bytes | None = None,
        prefix: str = "erp",
        clock: Callable[[], float] = time.time,
        table: str = "erp_api_keys",
        namespace: str = "erp:apikeys",
    ) -> None:
        from ._apikey_stores import open_store

        if isinstance(store, str):
            if pepper is None and not store.startswith("memory://"):
                raise ValueError("a persistent API key store needs a pepper")
            store = open_store(store, table=table, namespace=namespace)
        if pepper is None:
            pepper = secrets.token_bytes(32)
        self._pepper = pepper.encode() if isinstance(pepper, str) else pepper
        if len(self._pepper) < 32:
            raise ValueError("the API key pepper must be at least 32 bytes")
        generate_key(prefix)  # validates the prefix
        self.store = store
        self.prefix = prefix
        self.clock = clock

    def hash(self, key: str) -> str:
        return hmac.new(
            self._pepper, key.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()

    def _new(
        self,
        name: str,
        scopes: Iterable[str],
        expires_in: float | None,
        rotated_from: str | None = None,
    ) -> NewApiKey:
        now = self.clock()
        secret = generate_key(self.prefix)
        record = ApiKey(
            id=_base62(secrets.randbits(71), 12),
            name=name,
            prefix=self.prefix,
            hash=self.hash(secret),
            scopes=tuple(sorted(set(scopes))),
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
            rotated_from=rotated_from,
            hint=secret[-4:],
        )
        return NewApiKey(record, secret)

    def create(
        self, name: str, scopes: Iterable[str] = (), *, expires_in: float | None = None
    ) -> NewApiKey:
        """Make a key; ``expires_in`` in seconds. The secret is returned once, never stored."""
        made = self._new(name, scopes, expires_in)
        self.store.put(made.record)
        return made

    def check(self, key: str, record: ApiKey | None, scopes: Iterable[str]) -> ApiKey:
        """Decide on a looked-up record (shared by the sync and async faces)."""
        if record is None or not hmac.compare_digest(record.hash, self.hash(key)):
            raise ApiKeyError("unknown API key")
        now = self.clock()
        if record.revoked_at is not None:
            raise ApiKeyError("revoked API key")
        if record.expires_at is not None and now >= record.expires_at:
            raise ApiKeyError("expired API key")
        if not record.has_scopes(scopes):
            raise ApiKeyError("the API key lacks a required scope", status=403)
        return record

    def touched(self, record: ApiKey) -> ApiKey | None:
        now = self.clock()
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_EVERY:
            return replace(record, last_used_at=now)
        return None

    def verify(self, key: str, scopes: Iterable[str] = ()) -> ApiKey:
        """The key's record, or :class:`ApiKeyError` (401 invalid, 403 missing scope)."""
        if not key_checksum_ok(key):
            raise ApiKeyError("malformed API key")
        record = self.check(key, self.store.by_hash(self.hash(key)), scopes)
        updated = self.touched(record)
        if updated is not None:
            self.store.put(updated)
            return updated
        return record

    def get(self, key_id: str) -> ApiKey | None:
        return self.store.get(key_id)

    def list(self) -> list[ApiKey]:
        """Every key record, oldest first."""
        return sorted(self.store.all(), key=lambda r: (r.created_at, r.id))

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key now; it fails verification from the next request on."""
        record = self._existing(key_id)
        if record.revoked_at is None:
            record = replace(record, revoked_at=self.clock())
            self.store.put(record)
        return record

    def rotate(
        self, key_id: str, *, overlap: float = 86400.0, expires_in: float | None = None
    ) -> NewApiKey:
        """A new key with the same name and scopes; the old one keeps working for
        ``overlap`` seconds (or until its own expiry, if sooner), then expires."""
        old = self._existing(key_id)
        now = self.clock()
        if not old.active(now):
            raise ApiKeyError("cannot rotate a revoked or expired key")
        made = self._new(old.name, old.scopes, expires_in, rotated_from=old.id)
        self.store.put(made.record)
        ends = now + max(0.0, overlap)
        if old.expires_at is None or ends < old.expires_at:
            self.store.put(replace(old, expires_at=ends))
        return made

    def _existing(self, key_id: str) -> ApiKey:
        record = self.store.get(key_id)
        if record is None:
            raise KeyError(f"no API key with id {key_id!r}")
        return record

    def close(self) -> None:
        self.store.close()


class AsyncApiKeys:
    """The asynchronous face of :class:`ApiKeys`: the same methods as coroutines.

    Verification (the per-request path) uses the store's native asyncio twin on Redis and
    PostgreSQL; other store I/O (and SQLite) runs in a worker thread
    (``asyncio.to_thread``). Either way the event loop is never blocked; the memory store
    is called directly.
    """

    def __init__(self, keys: ApiKeys) -> None:
        from ._apikey_stores import MemoryKeyStore, async_twin

        self.keys = keys
        self._direct = isinstance(keys.store, MemoryKeyStore)
        self._native = async_twin(keys.store)

    async def _run(self, func: Callable[..., object], *args: object, **kwargs: object) -> object:
        if self._direct:
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    async def verify(self, key: str, scopes: Iterable[str] = ()) -> ApiKey:
        if not key_checksum_ok(key):
            raise ApiKeyError("malformed API key")
        keys = self.keys
        native = self._native
        if native is not None:
            found: object = await native.by_hash(keys.hash(key))
        else:
            found = await self._run(keys.store.by_hash, keys.hash(key))
        record = keys.check(key, found if isinstance(found, ApiKey) else None, scopes)
        updated = keys.touched(record)
        if updated is not None:
            if native is not None:
                await native.put(updated)
            else:
                await self._run(keys.store.put, updated)
            return updated
        return record

    async def create(
        self, name: str, scopes: Iterable[str] = (), *, expires_in: float | None = None
    ) -> NewApiKey:
        result = await self._run(self.keys.create, name, tuple(scopes), expires_in=expires_in)
        assert isinstance(result, NewApiKey)
        return result

    async def revoke(self, key_id: str) -> ApiKey:
        result = await self._run(self.keys.revoke, key_id)
        assert isinstance(result, ApiKey)
        return result

    async def rotate(
        self, key_id: str, *, overlap: float = 86400.0, expires_in: float | None = None
    ) -> NewApiKey:
        result = await self._run(self.keys.rotate, key_id, overlap=overlap, expires_in=expires_in)
        assert isinstance(result, NewApiKey)
        return result

    async def list(self) -> list[ApiKey]:
        result = await self._run(self.keys.list)
        assert isinstance(result, list)
        return result
