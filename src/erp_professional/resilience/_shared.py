"""Breaker state shared through Redis: atomic Lua updates, millisecond server time.

Each process keeps its own sliding window; the state (CLOSED/OPEN/HALF_OPEN/...), the open
deadline, the opening count and the half-open permits live in one Redis hash
``<namespace>:breaker:<name>``. When Redis fails the breaker carries on with its local state
(logged, counted) and re-syncs when Redis answers again.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ._metrics import SHARED_ERRORS
from ._settings import settings
from ._state import State

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript, Script

    from ._breaker import CircuitBreaker
    from ._core import SharedWork

__all__ = ["SharedState"]

log = logging.getLogger("erp_professional.resilience")

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local s = redis.call('HGET', key, 's') or 'closed'
local u = tonumber(redis.call('HGET', key, 'u') or '0')
local a = tonumber(redis.call('HGET', key, 'a') or '0')
local function reply(granted)
  local rem = 0
  if s == 'open' and u > now then rem = u - now end
  return {s, rem, a, granted}
end
local function enter(state)
  s = state
  redis.call('HSET', key, 's', s, 'u', u, 'a', a, 'p', 0, 'tc', 0, 'tf', 0, 'ts', 0)
end
"""

READ = _PRELUDE + "return reply(0)"

# ARGV: duration_ms, local attempt
TRIP = (
    _PRELUDE
    + """
if s == 'closed' or s == 'half_open' then
  a = math.max(a + 1, tonumber(ARGV[2]))
  u = now + tonumber(ARGV[1])
  enter('open')
end
return reply(0)
"""
)

# ARGV: max permits
ACQUIRE = (
    _PRELUDE
    + """
if s == 'open' and now >= u then enter('half_open') end
if s == 'half_open' then
  local p = tonumber(redis.call('HGET', key, 'p') or '0')
  if p < tonumber(ARGV[1]) then
    redis.call('HINCRBY', key, 'p', 1)
    return reply(1)
  end
  return reply(0)
end
if s == 'open' or s == 'forced_open' then return reply(0) end
return reply(1)
"""
)

RELEASE = (
    _PRELUDE
    + """
if s == 'half_open' and tonumber(redis.call('HGET', key, 'p') or '0') > 0 then
  redis.call('HINCRBY', key, 'p', -1)
end
return reply(0)
"""
)

# ARGV: failure 0/1, slow 0/1, max permits, failure threshold, slow threshold, next duration ms
TRIAL = (
    _PRELUDE
    + """
if s ~= 'half_open' then return reply(0) end
local tc = redis.call('HINCRBY', key, 'tc', 1)
local tf = redis.call('HINCRBY', key, 'tf', tonumber(ARGV[1]))
local ts = redis.call('HINCRBY', key, 'ts', tonumber(ARGV[2]))
if tc >= tonumber(ARGV[3]) then
  if tf * 100 >= tonumber(ARGV[4]) * tc or ts * 100 >= tonumber(ARGV[5]) * tc then
    a = a + 1
    u = now + tonumber(ARGV[6])
    enter('open')
  else
    a = 0
    enter('closed')
  end
end
return reply(0)
"""
)

# ARGV: state, remaining ms, attempt
SET = (
    _PRELUDE
    + """
a = tonumber(ARGV[3])
u = now + tonumber(ARGV[2])
enter(ARGV[1])
return reply(0)
"""
)


SCRIPTS = {
    "read": READ,
    "trip": TRIP,
    "acquire": ACQUIRE,
    "release": RELEASE,
    "trial": TRIAL,
    "set": SET,
}


class SharedState:
    """The Redis side of one breaker: sync methods use the process's Redis client, the
    ``a``-prefixed twins the event loop's asyncio client; both run the same scripts."""

    def __init__(self, breaker: CircuitBreaker, url: str) -> None:
        from erp_professional.connections import check_scheme

        check_scheme(url, ("redis",), "the shared breaker store")
        config = settings()
        self.breaker = breaker
        self.url = url
        self.interval = config.breaker_sync_interval
        self.namespace = config.breaker_namespace
        self._scripts: dict[str, Script] | None = None
        self._async_client: object = None
        self._ascripts: dict[str, AsyncScript] = {}
        self.degraded = False
        self.pending_trip = False
        self._next_sync = float("-inf")
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"{self.namespace}:breaker:{self.breaker.name}"

    def _sync_scripts(self) -> dict[str, Script]:
        if self._scripts is None:
            from erp_professional.connections import redis_client

            client = redis_client(self.url)
            self._scripts = {name: client.register_script(src) for name, src in SCRIPTS.items()}
        return self._scripts

    def _async_scripts(self) -> dict[str, AsyncScript]:
        from erp_professional.connections import async_redis_client

        client = async_redis_client(self.url)
        if client is not self._async_client:
            self._ascripts = {name: client.register_script(src) for name, src in SCRIPTS.items()}
            self._async_client = client
        return self._ascripts

    # -- replies ---------------------------------------------------------------------------
    def _adopt(self, reply: list[object]) -> bool:
        state_raw, remaining_ms, attempt, granted = reply
        if self.degraded:
            self.degraded = False
            log.warning("circuit %r: shared store is back, state re-synced", self.breaker.name)
        raw = state_raw.decode() if isinstance(state_raw, bytes) else str(state_raw)
        self.breaker.apply_remote(State(raw), int(str(remaining_ms)) / 1000.0, int(str(attempt)))
        return bool(int(str(granted)))

    def _failed(self, exc: Exception) -> None:
        SHARED_ERRORS.add(breaker=self.breaker.name)
        if not self.degraded:
            self.degraded = True
            log.warning(
                "circuit %r: shared store %s failed (%s); using local state",
                self.breaker.name,
                self.key,
                exc,
            )

    def _run(self, script: str, *args: str | int | float) -> bool:
        """Run a script and adopt the state it returns; False when Redis failed."""
        try:
            reply = self._sync_scripts()[script](keys=[self.key], args=list(args))
        except Exception as exc:  # any client or server failure falls back to local state
            self._failed(exc)
            return False
        return self._adopt(reply)

    async def _arun(self, script: str, *args: str | int | float) -> bool:
        try:
            reply = await self._async_scripts()[script](keys=[self.key], args=list(args))
        except Exception as exc:  # any client or server failure falls back to local state
            self._failed(exc)
            return False
        return self._adopt(reply)

    # -- what to run -----------------------------------------------------------------------
    def _sync_due(self, now: float) -> bool:
        if now < self._next_sync:
            return False
        with self._lock:
            if now < self._next_sync:
                return False
            self._next_sync = now + self.interval
        return True

    def _sync_call(self) -> tuple[str, tuple[str | int | float, ...]]:
        if self.pending_trip or (self.degraded and self.breaker.state is State.OPEN):
            return self._flush_call()
        return "read", ()

    def _flush_call(self) -> tuple[str, tuple[str | int | float, ...]]:
        """Publish a local trip."""
        self.pending_trip = False
        breaker = self.breaker
        return "trip", (round(breaker.remaining * 1000), breaker.attempt)

    def _work_call(self, work: SharedWork) -> tuple[str, tuple[str | int | float, ...]]:
        kind, failure, slow = work
        if kind == "flush":
            return self._flush_call()
        if kind == "release":
            return "release", ()
        breaker = self.breaker
        return "trial", (
            int(failure),
            int(slow),
            breaker.half_open_calls,
            breaker.failure_rate_threshold,
            breaker.slow_call_rate_threshold,
            round(breaker.open_duration_for(breaker.attempt + 1) * 1000),
        )

    def _after(self, script: str, ok: bool) -> None:
        if script == "trip" and not ok and self.degraded:
            self.pending_trip = True  # publish it once the store answers again

    # -- sync face -------------------------------------------------------------------------
    def maybe_sync(self, now: float) -> None:
        if self._sync_due(now):
            script, args = self._sync_call()
            self._after(script, self._run(script, *args))

    def acquire(self, now: float) -> bool:
        breaker = self.breaker
        if breaker.state is State.OPEN and breaker.remaining > 0:
            return False
        granted = self._run("acquire", breaker.half_open_calls)
        if self.degraded:
            return breaker.local_acquire(now)
        return granted

    def perform(self, work: SharedWork) -> None:
        script, args = self._work_call(work)
        self._after(script, self._run(script, *args))

    def push_state(self, state: State, remaining: float, attempt: int) -> None:
        self.pending_trip = False
        self._run("set", state.value, round(remaining * 1000), attempt)

    # -- async face ------------------------------------------------------------------------
    async def amaybe_sync(self, now: float) -> None:
        if self._sync_due(now):
            script, args = self._sync_call()
            self._after(script, await self._arun(script, *args))

    async def aacquire(self, now: float) -> bool:
        breaker = self.breaker
        if breaker.state is State.OPEN and breaker.remaining > 0:
            return False
        granted = await self._arun("acquire", breaker.half_open_calls)
        if self.degraded:
            return breaker.local_acquire(now)
        return granted

    async def aperform(self, work: SharedWork) -> None:
        script, args = self._work_call(work)
        self._after(script, await self._arun(script, *args))
