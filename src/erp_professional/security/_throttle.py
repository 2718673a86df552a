"""The rate limit concern, slow-down, key functions, response fields and ``@rate_limit``."""

from __future__ import annotations

import asyncio
import functools
import inspect
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar, cast

from limits import RateLimitItem

from ..testing import is_testing
from ..web import (
    Concern,
    Exchange,
    HTTPProblem,
    Response,
    ResponseHeaders,
    current_exchange,
    problem,
)
from ._ratelimit import (
    AsyncRateLimiter,
    Decision,
    LimitState,
    RateLimiter,
    parse_limits,
    policy_item,
    policy_name,
)
from ._routes import RouteSet, RouteTable
from ._util import append_headers, count, log, safe_for_log

__all__ = [
    "KeyFunc",
    "RateLimitConcern",
    "RateLimited",
    "RouteLimit",
    "SlowDown",
    "key_by_api_key",
    "key_by_ip",
    "key_by_user",
    "rate_limit",
]

P = ParamSpec("P")
R = TypeVar("R")
KeyFunc = Callable[[Exchange], "str | None"]
"""Maps a request to the identity its limits count against; ``None`` exempts it."""
HeaderMode = Literal["all", "ietf", "x-ratelimit", "none"]
STATE_KEY = "ratelimit"


def key_by_ip(exchange: Exchange) -> str:
    """The client address (forwarded headers only from trusted proxies)."""
    return "ip:" + (exchange.client or "unknown")


def key_by_api_key(exchange: Exchange) -> str:
    """The verified API key's id, else the client address."""
    key_id = exchange.state.get("api_key_id")
    return f"key:{key_id}" if isinstance(key_id, str) else key_by_ip(exchange)


def key_by_user(exchange: Exchange) -> str:
    """The authenticated principal (``exchange.principal``), else the client address."""
    principal = exchange.principal
    if principal is None:
        return key_by_ip(exchange)
    ident = getattr(principal, "id", None) or getattr(principal, "username", None) or principal
    return f"user:{ident}"


KEY_FUNCS: dict[str, KeyFunc] = {"ip": key_by_ip, "api_key": key_by_api_key, "user": key_by_user}


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """The limits of one scope (global, a route pattern, a decorated function)."""

    scope: str
    limits: tuple[RateLimitItem, ...]
    cost: int = 1


class RateLimited(HTTPProblem):
    """429 Too Many Requests (raised by ``@rate_limit``; the concern returns it directly)."""

    status = 429
    title = "Too Many Requests"


class SlowDown:
    """Progressive delay: past ``after`` requests per window, ``delay_ms`` more per request,
    up to ``max_delay_ms``. Waits with ``asyncio.sleep`` under ASGI (no thread is held)."""

    def __init__(
        self,
        after: str,
        delay_ms: int = 100,
        max_delay_ms: int = 2000,
        *,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        item = parse_limits(after)[0]
        self.after = item.amount
        self.window = int(item.get_expiry())
        self.delay = delay_ms / 1000
        self.max_delay = max_delay_ms / 1000
        self.sleep = sleep
        self.async_sleep = async_sleep

    def delay_for(self, hits: int) -> float:
        if hits <= self.after:
            return 0.0
        return min(self.max_delay, (hits - self.after) * self.delay)


def _client_in(
    networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network], client: str | None
) -> bool:
    if not networks or not client:
        return False
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def rate_headers(
    decision: Decision, mode: HeaderMode, now: float | None = None
) -> list[tuple[str, str]]:
    """``X-RateLimit-*`` and IETF ``RateLimit``/``RateLimit-Policy`` fields for a decision."""
    state = decision.tightest
    if state is None or mode == "none":
        return []
    current = time.time() if now is None else now
    reset_in = max(0, int(state.reset - current + 0.999))
    out: list[tuple[str, str]] = []
    if mode in ("all", "x-ratelimit"):
        out += [
            ("X-RateLimit-Limit", str(state.limit.amount)),
            ("X-RateLimit-Remaining", str(state.remaining)),
            ("X-RateLimit-Reset", str(int(state.reset))),
        ]
    if mode in ("all", "ietf"):
        policies = ", ".join(policy_item(s.limit) for s in decision.states)
        out += [
            ("RateLimit-Policy", policies),
            ("RateLimit", f'"{state.name}";r={state.remaining};t={reset_in}'),
        ]
    return out


class RateLimitConcern(Concern):
    """Applies the global, per-route and decorator limits; answers 429 problem+json."""

    name: ClassVar[str] = "security.rate_limit"
    order: ClassVar[int] = 100

    def __new__(
        cls,
        limiter: RateLimiter | None = None,
        async_limiter: AsyncRateLimiter | None = None,
        **options: Any,
    ) -> RateLimitConcern:
        # With memory storage and no slow-down nothing waits on I/O: the ASGI driver can
        # call the synchronous hook directly, sparing a coroutine per request.
        in_memory = (limiter is None or limiter.is_memory) and (
            async_limiter is None or async_limiter.is_memory
        )
        if cls is RateLimitConcern and in_memory and options.get("slow_down") is None:
            cls = _InMemoryRateLimitConcern
        return super().__new__(cls)

    def __init__(
        self,
        limiter: RateLimiter | None = None,
        async_limiter: AsyncRateLimiter | None = None,
        *,
        default: str | Sequence[str] | None = None,
        routes: dict[str, str] | None = None,
        route_costs: dict[str, int] | None = None,
        key: KeyFunc | str = "ip",
        exempt: Iterable[str] = (),
        exempt_clients: Iterable[str] = (),
        headers: HeaderMode = "all",
        slow_down: SlowDown | None = None,
    ) -> None:
        self.limiter = limiter or RateLimiter()
        self.async_limiter = async_limiter or AsyncRateLimiter(
            self.limiter.storage_url,
            strategy=self.limiter.strategy,
            failure_policy=self.limiter.failure_policy,
            recheck_interval=self.limiter.health.interval,
            namespace=self.limiter.namespace,
        )
        if self.limiter.is_memory:
            # One process, one memory: both faces count in the same place.
            self.async_limiter._memory = self.limiter._memory
        self.default = RouteLimit("global", parse_limits(default)) if default else None
        costs = route_costs or {}
        self.routes: RouteTable[RouteLimit] = RouteTable(
            {
                p: RouteLimit("route:" + p, parse_limits(v), costs.get(p, 1))
                for p, v in (routes or {}).items()
            }
        )
        self.key: KeyFunc = KEY_FUNCS[key] if isinstance(key, str) else key
        self.exempt = RouteSet(exempt)
        self.exempt_clients = tuple(ipaddress.ip_network(n, strict=False) for n in exempt_clients)
        self.header_mode: HeaderMode = headers
        self.slow_down = slow_down
        self.idle = self.default is None and not self.routes and slow_down is None
        # Plain truth values, read on every request (the containers' __bool__ is Python).
        self._has_exempt = bool(self.exempt)
        self._has_routes = bool(self.routes)

    # -- planning ----------------------------------------------------------------------
    def _plan(self, exchange: Exchange) -> tuple[RouteLimit | None, str] | None:
        if self.idle:
            return None  # only decorators limit: they use this concern's storage and key
        if self._has_exempt and self.exempt.matches(exchange):
            return None
        if self.exempt_clients and _client_in(self.exempt_clients, exchange.client):
            return None
        identity = self.key(exchange)
        if identity is None:
            return None
        route = self.routes.lookup(exchange) if self._has_routes else None
        return (route or self.default), identity

    def _refuse(self, exchange: Exchange, decision: Decision) -> Response:
        if decision.degraded == "closed":
            retry = max(1, int(self.limiter.health.interval))
            return problem(
                503,
                "Rate limiting is unavailable; try again shortly.",
                headers=[("Retry-After", str(retry))],
                request_id=exchange.request_id,
            )
        count("ratelimit.rejected")
        log.info(
            "rate limited %s %s",
            exchange.method,
            safe_for_log(exchange.path),
            extra={"request_id": exchange.request_id},
        )
        headers = [("Retry-After", str(decision.retry_after()))]
        return problem(
            429,
            "Too many requests; retry after the time in Retry-After.",
            headers=headers,
            request_id=exchange.request_id,
        )

    def _record(self, exchange: Exchange, decision: Decision) -> None:
        state = exchange.state
        previous = state.get(STATE_KEY)
        if previous is not None and isinstance(previous, Decision) and previous.states:
            decision = Decision(
                decision.allowed, previous.states + decision.states, decision.degraded
            )
        state[STATE_KEY] = decision

    # -- sync (WSGI) -------------------------------------------------------------------
    def on_request(self, exchange: Exchange) -> Response | None:
        plan = self._plan(exchange)
        if plan is None:
            return None
        route, identity = plan
        if route is not None:
            decision = self.limiter.hit(route.limits, route.scope, identity, cost=route.cost)
            self._record(exchange, decision)
            if not decision.allowed:
                return self._refuse(exchange, decision)
        slow = self.slow_down
        if slow is not None:
            hits = self.limiter.incr(f"slow/{identity}", slow.window)
            delay = slow.delay_for(hits or 0)
            if delay:
                exchange.state["slow_down_delay"] = delay
                if not is_testing():
                    slow.sleep(delay)
        return None

    # -- async (ASGI) ------------------------------------------------------------------
    async def on_request_async(self, exchange: Exchange) -> Response | None:
        plan = self._plan(exchange)
        if plan is None:
            return None
        route, identity = plan
        if route is not None:
            decision = await self.async_limiter.hit(
                route.limits, route.scope, identity, cost=route.cost
            )
            self._record(exchange, decision)
            if not decision.allowed:
                return self._refuse(exchange, decision)
        slow = self.slow_down
        if slow is not None:
            hits = await self.async_limiter.incr(f"slow/{identity}", slow.window)
            delay = slow.delay_for(hits or 0)
            if delay:
                exchange.state["slow_down_delay"] = delay
                if not is_testing():
                    await slow.async_sleep(delay)
        return None

    def on_response(self, exchange: Exchange, headers: ResponseHeaders) -> None:
        decision = exchange.state.get(STATE_KEY)
        if not isinstance(decision, Decision):
            return
        raw = getattr(headers, "raw", None)
        if (
            type(raw) is list
            and exchange.kind == "asgi"
            and len(decision.states) == 1
            and self.header_mode == "all"
        ):
            raw.extend(_raw_fields(decision.states[0]))
            return
        append_headers(exchange, headers, rate_headers(decision, self.header_mode))


_STATIC: dict[int, tuple[RateLimitItem, bytes, bytes, bytes]] = {}


def _static_fields(limit: RateLimitItem) -> tuple[RateLimitItem, bytes, bytes, bytes]:
    """``(limit, amount, policy item, "name";r=)`` as bytes: the header parts fixed by
    ``limit``, remembered by the item's identity."""
    if len(_STATIC) >= 1024:
        _STATIC.clear()
    entry = _STATIC[id(limit)] = (
        limit,
        str(limit.amount).encode(),
        policy_item(limit).encode(),
        f'"{policy_name(limit)}";r='.encode(),
    )
    return entry


def _raw_fields(state: LimitState) -> list[tuple[bytes, bytes]]:
    """The five fields of a one-limit decision, ready for an ASGI header list."""
    limit, _, remaining, reset = state
    static = _STATIC.get(id(limit))
    if static is None or static[0] is not limit:
        static = _static_fields(limit)
    left = b"%d" % remaining
    reset_in = int(reset - time.time() + 0.999)
    return [
        (b"x-ratelimit-limit", static[1]),
        (b"x-ratelimit-remaining", left),
        (b"x-ratelimit-reset", b"%d" % reset),
        (b"ratelimit-policy", static[2]),
        (b"ratelimit", b"%s%s;t=%d" % (static[3], left, reset_in if reset_in > 0 else 0)),
    ]


class _InMemoryRateLimitConcern(RateLimitConcern):
    """A memory-only concern: both drivers call the synchronous hook."""

    on_request_async = Concern.on_request_async


_fallback_sync: RateLimiter | None = None
_fallback_async: AsyncRateLimiter | None = None


def _limiters(exchange: Exchange) -> tuple[RateLimiter, AsyncRateLimiter, KeyFunc, HeaderMode]:
    concern = exchange.pipeline.get(RateLimitConcern.name)
    if isinstance(concern, RateLimitConcern):
        return concern.limiter, concern.async_limiter, concern.key, concern.header_mode
    global _fallback_sync, _fallback_async
    if _fallback_sync is None or _fallback_async is None:
        _fallback_sync = RateLimiter()
        _fallback_async = AsyncRateLimiter()
        _fallback_async._memory = _fallback_sync._memory
    return _fallback_sync, _fallback_async, key_by_ip, "all"


def rate_limit(
    limits: str | Sequence[str],
    *,
    key: KeyFunc | None = None,
    cost: int | Callable[[Exchange], int] = 1,
    scope: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Limit a view function: ``@rate_limit("5/minute")``. No ``request`` parameter needed.

    The limit counts per key (the rate limit concern's key function unless ``key`` is
    given) and per decorated function (or ``scope``). Over the limit the view is not
    called and :class:`RateLimited` (429 problem+json with ``Retry-After``) is raised.
    Async views wait on the asyncio storage; sync views use the sync one.
    """
    items = parse_limits(limits)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = scope or f"fn:{func.__module__}.{func.__qualname__}"

        def prepare() -> (
            tuple[Exchange, RateLimiter, AsyncRateLimiter, str, int, HeaderMode] | None
        ):
            exchange = current_exchange()
            if exchange is None:
                return None
            sync_limiter, async_limiter, default_key, mode = _limiters(exchange)
            identity = (key or default_key)(exchange)
            if identity is None:
                return None
            weight = cost(exchange) if callable(cost) else cost
            return exchange, sync_limiter, async_limiter, identity, weight, mode

        def settle(exchange: Exchange, decision: Decision, mode: HeaderMode) -> None:
            concern = exchange.pipeline.get(RateLimitConcern.name)
            if isinstance(concern, RateLimitConcern):
                concern._record(exchange, decision)
            if decision.degraded == "closed":
                raise HTTPProblem(
                    "Rate limiting is unavailable; try again shortly.",
                    status=503,
                    headers=[("Retry-After", "1")],
                )
            if not decision.allowed:
                count("ratelimit.rejected")
                headers = [("Retry-After", str(decision.retry_after()))]
                if not isinstance(concern, RateLimitConcern):
                    headers += rate_headers(decision, mode)
                raise RateLimited(
                    "Too many requests; retry after the time in Retry-After.", headers=headers
                )

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                plan = prepare()
                if plan is not None:
                    exchange, _, limiter, identity, weight, mode = plan
                    settle(exchange, await limiter.hit(items, name, identity, cost=weight), mode)
                return await func(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            plan = prepare()
            if plan is not None:
                exchange, limiter, _, identity, weight, mode = plan
                settle(exchange, limiter.hit(items, name, identity, cost=weight), mode)
            return func(*args, **kwargs)

        return wrapper

    return decorate
