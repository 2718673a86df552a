"""Rate limiters on ``limits``: sync for WSGI, async for ASGI, with a storage failure policy.

Memory storage is in-process and never blocks, so both faces use it directly. Redis uses
``limits``' synchronous storage under WSGI and its asyncio storage (one per event loop)
under ASGI, so a Redis round trip never holds the event loop.

When the storage fails, the policy decides: ``open`` lets the request through, ``closed``
refuses it (503), ``memory-fallback`` limits with this process's memory. The failure is
logged once per outage and counted; the storage is tried again every ``recheck_interval``
seconds, and never on the requests in between.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from limits import RateLimitItem, parse_many
from limits import strategies as sync_strategies
from limits.aio import strategies as async_strategies
from limits.storage import MemoryStorage

from ._util import count, log

__all__ = [
    "AsyncRateLimiter",
    "Decision",
    "LimitState",
    "RateLimiter",
    "parse_limits",
]

Strategy = Literal["fixed-window", "moving-window", "sliding-window-counter"]
FailurePolicy = Literal["open", "closed", "memory-fallback"]

_SYNC: dict[str, type[sync_strategies.RateLimiter]] = {
    "fixed-window": sync_strategies.FixedWindowRateLimiter,
    "moving-window": sync_strategies.MovingWindowRateLimiter,
    "sliding-window-counter": sync_strategies.SlidingWindowCounterRateLimiter,
}
_ASYNC: dict[str, type[async_strategies.RateLimiter]] = {
    "fixed-window": async_strategies.FixedWindowRateLimiter,
    "moving-window": async_strategies.MovingWindowRateLimiter,
    "sliding-window-counter": async_strategies.SlidingWindowCounterRateLimiter,
}


def parse_limits(value: str | Sequence[str] | Sequence[RateLimitItem]) -> tuple[RateLimitItem, ...]:
    """``"10/second;1000/day"`` (or a list of such strings or items) to limit items."""
    if isinstance(value, str):
        items = parse_many(value)
    else:
        items = []
        for entry in value:
            items.extend(parse_many(entry) if isinstance(entry, str) else [entry])
    if not items:
        raise ValueError(f"no rate limit in {value!r}")
    return tuple(items)


@functools.lru_cache(maxsize=1024)
def policy_name(item: RateLimitItem) -> str:
    """``100-per-1-minute``: the name of a limit in the ``RateLimit`` fields."""
    return f"{item.amount}-per-{item.multiples}-{item.GRANULARITY.name}"


@functools.lru_cache(maxsize=1024)
def policy_item(item: RateLimitItem) -> str:
    """One ``RateLimit-Policy`` list member: ``"100-per-1-minute";q=100;w=60``."""
    return f'"{policy_name(item)}";q={item.amount};w={int(item.get_expiry())}'


class LimitState(NamedTuple):
    """One limit after a request: its quota, what remains and when the window resets."""

    limit: RateLimitItem
    allowed: bool
    remaining: int
    reset: float
    """Seconds since the epoch when the window resets."""

    @property
    def name(self) -> str:
        return policy_name(self.limit)


class Decision:
    """The outcome of a request against its limits.

    ``degraded`` is ``None`` normally; ``open``, ``closed`` or ``memory-fallback`` while the
    storage fails.
    """

    __slots__ = ("allowed", "degraded", "states")

    def __init__(
        self, allowed: bool, states: tuple[LimitState, ...] = (), degraded: str | None = None
    ) -> None:
        self.allowed = allowed
        self.states = states
        self.degraded = degraded

    def __repr__(self) -> str:
        return f"Decision(allowed={self.allowed}, states={self.states}, degraded={self.degraded})"

    @property
    def tightest(self) -> LimitState | None:
        """The limit to report: the first one refused, else the one with least remaining."""
        if not self.states:
            return None
        if len(self.states) == 1:
            return self.states[0]
        refused = [s for s in self.states if not s.allowed]
        if refused:
            return refused[0]
        return min(self.states, key=lambda s: (s.remaining, -s.reset))

    def retry_after(self, now: float | None = None) -> int:
        """Whole seconds until the tightest refused limit resets (at least 1)."""
        state = self.tightest
        if state is None:
            return 1
        current = time.time() if now is None else now
        return max(1, int(state.reset - current + 0.999))


class _Health:
    """Whether the primary storage is usable; re-checked every ``interval`` seconds."""

    def __init__(
        self, url: str, policy: FailurePolicy, interval: float, clock: Callable[[], float]
    ) -> None:
        self.url = url
        self.policy = policy
        self.interval = interval
        self.clock = clock
        self.down_until: float | None = None
        self.failures = 0

    def usable(self) -> bool:
        return self.down_until is None or self.clock() >= self.down_until

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        count("ratelimit.storage_error", policy=self.policy)
        if self.down_until is None:
            log.warning(
                "rate limit storage %s failed (%s: %s); applying the %r policy and retrying "
                "every %.1fs",
                _redact(self.url),
                type(exc).__name__,
                exc,
                self.policy,
                self.interval,
            )
        self.down_until = self.clock() + self.interval

    def recovered(self) -> None:
        if self.down_until is not None:
            self.down_until = None
            log.info("rate limit storage %s answers again", _redact(self.url))
            count("ratelimit.storage_recovered")


class _MemoryStorage(MemoryStorage):
    """``limits``' memory storage with its expiry sweep scheduled at most once a second.

    The stock storage starts a new timer thread whenever the previous sweep finished, so a
    busy process spawns a thread every 10 ms; counters still expire on read either way
    (``get`` drops expired keys), the sweep only frees memory.
    """

    _sweep_every = 1.0

    def __init__(self) -> None:
        self._next_sweep = 0.0
        super().__init__()

    def hit_fixed(
        self, item: RateLimitItem, identifiers: tuple[str, ...], cost: int = 1
    ) -> LimitState:
        """A fixed window's hit: ``incr`` and ``get_expiry`` of the stock storage in one
        step under the key's lock (same rules), so the remaining quota needs no second
        read; the window's key is remembered per client."""
        entry = _KEYS.get((id(item), identifiers))
        if entry is None or entry[0] is not item:
            entry = _remember(item, identifiers)
        key = entry[1]
        now = time.time()
        storage = self.storage
        expirations = self.expirations
        with self.locks[key]:
            if expirations.get(key, 0) <= now:  # expired or new: the window starts now
                storage[key] = used = cost
                reset = expirations[key] = now + entry[2]
            else:
                used = storage[key] + cost
                storage[key] = used
                if used == cost:
                    expirations[key] = now + entry[2]
                reset = expirations.get(key, now)
        if time.monotonic() >= self._next_sweep:  # the sweep's own check, without its call
            self._MemoryStorage__schedule_expiry()
        remaining = item.amount - used
        return _state(LimitState, (item, remaining >= 0, remaining if remaining > 0 else 0, reset))

    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_every
            if not self.timer.is_alive():
                self.timer = threading.Timer(0.01, self._MemoryStorage__expire_events)  # type: ignore[attr-defined]
                self.timer.daemon = True
                self.timer.start()


def _redact(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


DEFAULT_REDIS_TIMEOUT = 0.5
"""Seconds a Redis call may take before the failure policy applies, unless the URL sets
``socket_timeout``/``socket_connect_timeout`` itself."""


def with_timeouts(url: str) -> str:
    """``url`` with Redis socket timeouts added when it sets none (a hung Redis must not
    hang requests: the failure policy takes over after the timeout)."""
    if url.startswith("memory://"):
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name in ("socket_timeout", "socket_connect_timeout"):
        query.setdefault(name, str(DEFAULT_REDIS_TIMEOUT))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _sync_storage(url: str, namespace: str) -> Any:
    if url.startswith("memory://"):
        return _MemoryStorage()
    from limits.storage import RedisStorage

    from ..connections import redis_client

    pool = redis_client(url).connection_pool
    return RedisStorage(url, connection_pool=pool, key_prefix=namespace)


def _async_storage(url: str, namespace: str) -> Any:
    from limits.aio.storage import RedisStorage as AsyncRedisStorage

    from ..connections import async_redis_client

    options: dict[str, Any] = {"connection_pool": async_redis_client(url).connection_pool}
    return AsyncRedisStorage(
        "async+" + url, implementation="redispy", key_prefix=namespace, **options
    )


class _Base:
    def __init__(
        self,
        storage_url: str = "memory://",
        *,
        strategy: Strategy = "fixed-window",
        failure_policy: FailurePolicy = "open",
        recheck_interval: float = 5.0,
        namespace: str = "erp:ratelimit",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if strategy not in _SYNC:
            raise ValueError(f"unknown strategy {strategy!r}; use one of {sorted(_SYNC)}")
        if not storage_url.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError(
                "storage_url must be memory:// or a redis://, rediss:// or unix:// URL"
            )
        self.storage_url = with_timeouts(storage_url)
        self.strategy = strategy
        self.failure_policy = failure_policy
        self.namespace = namespace
        self.is_memory = storage_url.startswith("memory://")
        self.health = _Health(storage_url, failure_policy, recheck_interval, clock)
        self._fallback: sync_strategies.RateLimiter | None = None
        self._memory: sync_strategies.RateLimiter | None = None
        if self.is_memory:
            self._memory = _SYNC[strategy](_MemoryStorage())

    def _fallback_limiter(self) -> sync_strategies.RateLimiter:
        if self._fallback is None:
            self._fallback = _SYNC[self.strategy](_MemoryStorage())
        return self._fallback

    def _degraded(
        self, limits: Sequence[RateLimitItem], identifiers: tuple[str, ...], cost: int
    ) -> Decision:
        policy = self.failure_policy
        if policy == "open":
            return Decision(True, (), degraded="open")
        if policy == "closed":
            return Decision(False, (), degraded="closed")
        decision = _hit_sync(self._fallback_limiter(), limits, identifiers, cost)
        return Decision(decision.allowed, decision.states, degraded="memory-fallback")


# Keyed by the item's identity (``RateLimitItem.__hash__`` is Python code, paid on every
# lookup); the entry keeps the item itself, so a recycled id can never match.
_KEYS: dict[tuple[int, tuple[str, ...]], tuple[RateLimitItem, str, int]] = {}


def _remember(item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[RateLimitItem, str, int]:
    if len(_KEYS) >= 8192:
        _KEYS.clear()
    entry = _KEYS[(id(item), identifiers)] = (item, item.key_for(*identifiers), item.get_expiry())
    return entry


def _window(item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[RateLimitItem, str, int]:
    """``(item, item.key_for(*identifiers), item.get_expiry())``, remembered for the most
    recent clients."""
    entry = _KEYS.get((id(item), identifiers))
    if entry is None or entry[0] is not item:
        entry = _remember(item, identifiers)
    return entry


_state = tuple.__new__  # LimitState(...) without the generated keyword-handling __new__


def _fixed_state(
    storage: Any, item: RateLimitItem, identifiers: tuple[str, ...], cost: int
) -> LimitState:
    """The fixed window's hit: one counter increment whose result is the count, so the
    remaining quota needs no second read (memory: count and reset in one locked step)."""
    if type(storage) is _MemoryStorage:
        return storage.hit_fixed(item, identifiers, cost)
    _, key, expiry = _window(item, identifiers)
    used = storage.incr(key, expiry, amount=cost)
    reset = storage.get_expiry(key)
    amount = item.amount
    return _state(LimitState, (item, used <= amount, max(0, amount - used), reset))


def _hit_sync(
    limiter: sync_strategies.RateLimiter,
    limits: Sequence[RateLimitItem],
    identifiers: tuple[str, ...],
    cost: int,
) -> Decision:
    fixed = isinstance(limiter, sync_strategies.FixedWindowRateLimiter)
    if fixed and len(limits) == 1:  # the common case, without the loop's bookkeeping
        storage = limiter.storage
        if type(storage) is _MemoryStorage:  # memory: key, count and reset in one step
            state = storage.hit_fixed(limits[0], identifiers, cost)
        else:
            state = _fixed_state(storage, limits[0], identifiers, cost)
        return Decision(state[1], (state,))
    states: list[LimitState] = []
    allowed = True
    for item in limits:
        if fixed:
            state = _fixed_state(limiter.storage, item, identifiers, cost)
        else:
            ok = limiter.hit(item, *identifiers, cost=cost)
            stats = limiter.get_window_stats(item, *identifiers)
            state = LimitState(item, ok, max(0, stats.remaining), stats.reset_time)
        states.append(state)
        if not state.allowed:
            allowed = False
            break
    return Decision(allowed, tuple(states))


class RateLimiter(_Base):
    """Synchronous limiter (WSGI, scripts): ``hit(limits, *identifiers, cost=1)``."""

    def __init__(self, storage_url: str = "memory://", **options: Any) -> None:
        super().__init__(storage_url, **options)
        self._primary: sync_strategies.RateLimiter | None = self._memory

    def _limiter(self) -> sync_strategies.RateLimiter:
        if self._primary is None:
            self._primary = _SYNC[self.strategy](_sync_storage(self.storage_url, self.namespace))
        return self._primary

    def hit(self, limits: Sequence[RateLimitItem], *identifiers: str, cost: int = 1) -> Decision:
        """Count one request of ``cost`` against every limit (stopping at the first refusal)."""
        if self.is_memory:
            assert self._memory is not None
            return _hit_sync(self._memory, limits, identifiers, cost)
        if not self.health.usable():
            return self._degraded(limits, identifiers, cost)
        try:
            decision = _hit_sync(self._limiter(), limits, identifiers, cost)
        except Exception as exc:
            self.health.failed(exc)
            return self._degraded(limits, identifiers, cost)
        self.health.recovered()
        return decision

    def incr(self, key: str, expiry: int) -> int | None:
        """Increment a plain counter (slow-down); ``None`` while the storage fails."""
        if not self.is_memory and not self.health.usable():
            return None
        try:
            storage = self._limiter().storage
            return int(storage.incr(f"{self.namespace}/{key}", expiry))
        except Exception as exc:
            self.health.failed(exc)
            return None


class AsyncRateLimiter(_Base):
    """Asynchronous limiter (ASGI): the same ``hit`` as a coroutine, never blocking the loop."""

    def __init__(self, storage_url: str = "memory://", **options: Any) -> None:
        super().__init__(storage_url, **options)
        self._per_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, async_strategies.RateLimiter
        ] = weakref.WeakKeyDictionary()

    def _limiter(self) -> async_strategies.RateLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._per_loop.get(loop)
        if limiter is None:
            limiter = _ASYNC[self.strategy](_async_storage(self.storage_url, self.namespace))
            self._per_loop[loop] = limiter
        return limiter

    async def hit(
        self, limits: Sequence[RateLimitItem], *identifiers: str, cost: int = 1
    ) -> Decision:
        """Count one request of ``cost`` against every limit (stopping at the first refusal)."""
        if self.is_memory:
            assert self._memory is not None
            return _hit_sync(self._memory, limits, identifiers, cost)
        if not self.health.usable():
            return self._degraded(limits, identifiers, cost)
        try:
            limiter = self._limiter()
            fixed = isinstance(limiter, async_strategies.FixedWindowRateLimiter)
            storage = limiter.storage
            states: list[LimitState] = []
            allowed = True
            for item in limits:
                if fixed:
                    _, key, expiry = _window(item, identifiers)
                    used = await storage.incr(key, expiry, amount=cost)
                    ok = used <= item.amount
                    reset = await storage.get_expiry(key)
                    state = LimitState(item, ok, max(0, item.amount - used), reset)
                else:
                    ok = await limiter.hit(item, *identifiers, cost=cost)
                    stats = await limiter.get_window_stats(item, *identifiers)
                    state = LimitState(item, ok, max(0, stats.remaining), stats.reset_time)
                states.append(state)
                if not ok:
                    allowed = False
                    break
        except Exception as exc:
            self.health.failed(exc)
            return self._degraded(limits, identifiers, cost)
        self.health.recovered()
        return Decision(allowed, tuple(states))

    async def incr(self, key: str, expiry: int) -> int | None:
        """Increment a plain counter (slow-down); ``None`` while the storage fails."""
        if self.is_memory:
            assert self._memory is not None
            return int(self._memory.storage.incr(f"{self.namespace}/{key}", expiry))
        if not self.health.usable():
            return None
        try:
            storage = self._limiter().storage
            return int(await storage.incr(f"{self.namespace}/{key}", expiry))
        except Exception as exc:
            self.health.failed(exc)
            return None
