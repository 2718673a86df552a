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
    from ._breaker import CircuitBreaker

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


class SharedState:
    """The Redis side of one breaker."""

    def __init__(self, breaker: CircuitBreaker, url: str) -> None:
        from erp_professional.connections import redis_client

        config = settings()
        self.breaker = breaker
        self.url = url
        self.interval = config.breaker_sync_interval
        self.namespace = config.breaker_namespace
        self.client = redis_client(url)
        self._scripts = {
            name: self.client.register_script(source)
            for name, source in (
                ("read", READ),
                ("trip", TRIP),
                ("acquire", ACQUIRE),
                ("release", RELEASE),
                ("trial", TRIAL),
                ("set", SET),
            )
        }
        self.degraded = False
        self.pending_trip = False
        self._next_sync = float("-inf")
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"{self.namespace}:breaker:{self.breaker.name}"

    def _run(self, script: str, *args: str | int | float) -> bool:
        """Run a script and adopt the state it returns; False when Redis failed."""
        try:
            reply = self._scripts[script](keys=[self.key], args=list(args))
        except Exception as exc:  # any client or server failure falls back to local state
            self._failed(exc)
            return False
        state_raw, remaining_ms, attempt, granted = reply
        if self.degraded:
            self.degraded = False
            log.warning("circuit %r: shared store is back, state re-synced", self.breaker.name)
        state = State(state_raw.decode() if isinstance(state_raw, bytes) else state_raw)
        self.breaker.apply_remote(state, int(remaining_ms) / 1000.0, int(attempt))
        return bool(int(granted))

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

    def maybe_sync(self, now: float) -> None:
        if now < self._next_sync:
            return
        with self._lock:
            if now < self._next_sync:
                return
            self._next_sync = now + self.interval
        if self.pending_trip or (self.degraded and self.breaker.state is State.OPEN):
            self.flush()
        else:
            self._run("read")

    def flush(self) -> None:
        """Publish a local trip."""
        self.pending_trip = False
        breaker = self.breaker
        ok = (
            self._run("trip", round(breaker.remaining * 1000), breaker.attempt) or not self.degraded
        )
        if not ok:
            self.pending_trip = True

    def acquire(self, now: float) -> bool:
        breaker = self.breaker
        if breaker.state is State.OPEN and breaker.remaining > 0:
            return False
        granted = self._run("acquire", breaker.half_open_calls)
        if self.degraded:
            return breaker.local_acquire(now)
        return granted

    def release(self) -> None:
        if not self.degraded:
            self._run("release")

    def record_trial(self, failure: bool, slow: bool) -> None:
        breaker = self.breaker
        next_duration = breaker.open_duration_for(breaker.attempt + 1)
        self._run(
            "trial",
            int(failure),
            int(slow),
            breaker.half_open_calls,
            breaker.failure_rate_threshold,
            breaker.slow_call_rate_threshold,
            round(next_duration * 1000),
        )

    def push_state(self, state: State, remaining: float, attempt: int) -> None:
        self.pending_trip = False
        self._run("set", state.value, round(remaining * 1000), attempt)
