"""Lua scripts: every state change of a Redis queue is one atomic script.

Keys of a queue share the prefix ``erp:q:{name}:`` (the braces are a Redis Cluster hash tag,
so one queue lives in one slot). Common ARGV: 1 prefix, 2 now (ms), 3 jobs to fetch,
4 lease (ms), 5 worker id, 6 stalls allowed, 7 failed jobs kept; then the script's own.
"""

from __future__ import annotations

__all__ = ["SCRIPTS"]

_HEAD = r"""
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local function jk(id) return P .. 'job:' .. id end
local function wake() redis.call('ZADD', P .. 'marker', 0, '0') end
"""

_WORKER = r"""
local function to_wait(id, key)
  redis.call('HSET', key, 'status', 'waiting')
  redis.call('ZADD', P .. 'wait', redis.call('HGET', key, 'score'), id)
  redis.call('ZADD', P .. 'waitt', NOW, id)
end
local function release_dedup(key)
  local d = redis.call('HGET', key, 'dedup')
  if d and d ~= '' and redis.call('HGET', key, 'dedup_release') == '1' then
    local dk = P .. 'dedup:' .. d
    if redis.call('GET', dk) == redis.call('HGET', key, 'id') then redis.call('DEL', dk) end
  end
end
local function trim(zkey, keep)
  local n = redis.call('ZCARD', zkey) - keep
  if n > 0 then
    if n > 500 then n = 500 end
    local old = redis.call('ZPOPMIN', zkey, n)
    for i = 1, #old, 2 do redis.call('DEL', jk(old[i])) end
  end
end
local function finish(id, key, status, keep)
  redis.call('HSET', key, 'status', status, 'finished', NOW, 'token', '')
  release_dedup(key)
  local z = P .. 'done'
  if status == 'failed' then z = P .. 'dead' end
  -- finish order: time in ms, then a counter, so trimming drops the oldest first
  redis.call('ZADD', z, NOW * 1000 + redis.call('INCR', P .. 'fseq') % 1000, id)
  trim(z, keep)
end
local function owned(id, token)
  local key = jk(id)
  if token == '' then return nil end
  local v = redis.call('HMGET', key, 'status', 'token')
  if v[1] == 'active' and v[2] == token then return key end
  return nil
end
local function do_complete(id, token, result, keep_done, ttl)
  local key = owned(id, token)
  if not key then return 0 end
  redis.call('ZREM', P .. 'active', id)
  redis.call('HSET', key, 'result', result)
  finish(id, key, 'completed', keep_done)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  return 1
end
local function do_fail(id, token, outcome, retry_at, err, tb, keep_done)
  local key = owned(id, token)
  if not key then return 0 end
  redis.call('ZREM', P .. 'active', id)
  redis.call('HSET', key, 'error', err, 'traceback', tb, 'token', '')
  if outcome == 'aborted' then
    finish(id, key, 'aborted', keep_done)
  else
    redis.call('HINCRBY', key, 'failures', 1)
    if outcome == 'dead' then
      finish(id, key, 'failed', tonumber(ARGV[7]))
    elseif retry_at > NOW then
      redis.call('HSET', key, 'status', 'delayed')
      redis.call('ZADD', P .. 'delay', retry_at, id)
      wake()
    else
      to_wait(id, key)
      wake()
    end
  end
  return 1
end
local function fetch()
  local n = tonumber(ARGV[3])
  if n <= 0 then return {0, -1, {}} end
  local lease, worker = tonumber(ARGV[4]), ARGV[5]
  local max_stalls, keep_failed = tonumber(ARGV[6]), tonumber(ARGV[7])
  local reclaimed = redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', NOW, 'LIMIT', 0, 100)
  for _, id in ipairs(reclaimed) do
    redis.call('ZREM', P .. 'active', id)
    local key = jk(id)
    if redis.call('EXISTS', key) == 1 then
      local stalls = redis.call('HINCRBY', key, 'stalls', 1)
      redis.call('HSET', key, 'token', '')
      if stalls > max_stalls then
        redis.call('HSET', key, 'error',
          'stalled ' .. stalls .. ' times: the worker running it stopped answering',
          'traceback', '')
        finish(id, key, 'failed', keep_failed)
      else
        to_wait(id, key)
      end
    end
  end
  local due = redis.call('ZRANGEBYSCORE', P .. 'delay', '-inf', NOW, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', P .. 'delay', id)
    to_wait(id, jk(id))
  end
  local jobs = {}
  if redis.call('ZCARD', P .. 'wait') > 0 then
    local popped = redis.call('ZPOPMIN', P .. 'wait', n)
    local tok = redis.call('INCRBY', P .. 'token', #popped / 2) - #popped / 2
    for i = 1, #popped, 2 do
      local id = popped[i]
      local key = jk(id)
      tok = tok + 1
      redis.call('ZREM', P .. 'waitt', id)
      redis.call('HSET', key, 'status', 'active', 'token', tok, 'started', NOW,
        'worker', worker, 'abort', '')
      redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('ZADD', P .. 'active', NOW + lease, id)
      jobs[#jobs + 1] = redis.call('HGETALL', key)
    end
    if redis.call('ZCARD', P .. 'wait') > 0 then wake() end
  end
  local wake_at = -1
  local d = redis.call('ZRANGE', P .. 'delay', 0, 0, 'WITHSCORES')
  local a = redis.call('ZRANGE', P .. 'active', 0, 0, 'WITHSCORES')
  if #d > 0 then wake_at = tonumber(d[2]) end
  if #a > 0 and (wake_at < 0 or tonumber(a[2]) < wake_at) then wake_at = tonumber(a[2]) end
  return {#reclaimed, wake_at, jobs}
end
"""

_ENQUEUE = r"""
local function enqueue_one(id, dedup, dedup_ttl, run_at, prio, data)
  local key = jk(id)
  if dedup ~= '' then
    local held = redis.call('GET', P .. 'dedup:' .. dedup)
    if held then return {held, 0} end
  end
  if redis.call('EXISTS', key) == 1 then return {id, 0} end
  local score = -prio * 1000000000000 + redis.call('INCR', P .. 'seq')
  local status = 'waiting'
  if run_at > NOW then status = 'delayed' end
  redis.call('HSET', key, 'd', data, 'id', id, 'score', score, 'priority', prio,
    'created', NOW, 'run_at', run_at, 'status', status)
  if dedup ~= '' then
    local release = '1'
    if dedup_ttl > 0 then release = '0' end
    redis.call('HSET', key, 'dedup', dedup, 'dedup_release', release)
    if dedup_ttl > 0 then
      redis.call('SET', P .. 'dedup:' .. dedup, id, 'PX', dedup_ttl)
    else
      redis.call('SET', P .. 'dedup:' .. dedup, id)
    end
  end
  if status == 'delayed' then
    redis.call('ZADD', P .. 'delay', run_at, id)
  else
    redis.call('ZADD', P .. 'wait', score, id)
    redis.call('ZADD', P .. 'waitt', NOW, id)
  end
  return {id, 1}
end
local function enqueue_many(i, count)
  local out = {}
  for _ = 1, count do
    out[#out + 1] = enqueue_one(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]),
      tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), ARGV[i + 5])
    i = i + 6
  end
  wake()
  return out
end
"""


_BODIES = {
    # ARGV 3: count, then per job: id, dedup, dedup_ttl (ms), run_at (ms), priority, data
    "enqueue": "return enqueue_many(4, tonumber(ARGV[3]))",
    "fetch": "return fetch()",
    "complete": r"""
local ok = do_complete(ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12]))
return {ok, fetch()}
""",
    "fail": r"""
local ok = do_fail(ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11]), ARGV[12], ARGV[13],
  tonumber(ARGV[14]))
return {ok, fetch()}
""",
    # ARGV 8 jobs kept, 9 result ttl, 10 count, then per outcome: kind, id, token, result,
    # retry_at, error, traceback (kind: complete, retry, dead or aborted)
    "report": r"""
local keep_done, ttl, oks = tonumber(ARGV[8]), tonumber(ARGV[9]), {}
for i = 11, 10 + tonumber(ARGV[10]) * 7, 7 do
  if ARGV[i] == 'complete' then
    oks[#oks + 1] = do_complete(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], keep_done, ttl)
  else
    oks[#oks + 1] = do_fail(ARGV[i + 1], ARGV[i + 2], ARGV[i], tonumber(ARGV[i + 4]),
      ARGV[i + 5], ARGV[i + 6], keep_done)
  end
end
return {oks, fetch()}
""",
    "release": r"""
local key = owned(ARGV[8], ARGV[9])
if not key then return 0 end
redis.call('ZREM', P .. 'active', ARGV[8])
redis.call('HSET', key, 'token', '')
to_wait(ARGV[8], key)
wake()
return 1
""",
    "heartbeat": r"""
local lost, aborted = {}, {}
local lease = tonumber(ARGV[4])
for i = 8, #ARGV, 2 do
  local key = owned(ARGV[i], ARGV[i + 1])
  if key then
    redis.call('ZADD', P .. 'active', 'XX', NOW + lease, ARGV[i])
    if redis.call('HGET', key, 'abort') == '1' then aborted[#aborted + 1] = ARGV[i] end
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return {lost, aborted}
""",
    "progress": r"""
local key = owned(ARGV[8], ARGV[9])
if not key then return 0 end
redis.call('HSET', key, 'progress', ARGV[10])
return 1
""",
    "get": "return redis.call('HGETALL', jk(ARGV[8]))",
    "cancel": r"""
local id, key = ARGV[8], jk(ARGV[8])
local status = redis.call('HGET', key, 'status')
if status == 'active' and ARGV[9] == 'abort' then
  redis.call('HSET', key, 'abort', '1')
  return 1
end
if status ~= 'waiting' and status ~= 'delayed' then return 0 end
redis.call('ZREM', P .. 'wait', id)
redis.call('ZREM', P .. 'waitt', id)
redis.call('ZREM', P .. 'delay', id)
finish(id, key, 'cancelled', tonumber(ARGV[10]))
return 1
""",
    "stats": r"""
local oldest = redis.call('ZRANGE', P .. 'waitt', 0, 0, 'WITHSCORES')
local t = -1
if #oldest > 0 then t = tonumber(oldest[2]) end
return {redis.call('ZCARD', P .. 'wait'), redis.call('ZCARD', P .. 'delay'),
  redis.call('ZCARD', P .. 'active'), redis.call('ZCARD', P .. 'done'),
  redis.call('ZCARD', P .. 'dead'), t}
""",
    "dead": r"""
local ids = redis.call('ZREVRANGE', P .. 'dead', tonumber(ARGV[8]), tonumber(ARGV[9]))
local out = {}
for _, id in ipairs(ids) do
  local row = redis.call('HGETALL', jk(id))
  if #row > 0 then out[#out + 1] = row end
end
return out
""",
    "retry_dead": r"""
local ids = {}
if ARGV[8] == 'all' then
  ids = redis.call('ZRANGE', P .. 'dead', 0, 9999)
else
  for i = 9, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local n = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', P .. 'dead', id) == 1 then
    local key = jk(id)
    redis.call('HSET', key, 'failures', 0, 'stalls', 0, 'finished', '', 'token', '')
    to_wait(id, key)
    n = n + 1
  end
end
if n > 0 then wake() end
return n
""",
    "purge_dead": r"""
local ids = {}
if ARGV[8] == 'all' then
  ids = redis.call('ZRANGE', P .. 'dead', 0, 9999)
else
  for i = 9, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local n = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', P .. 'dead', id) == 1 then
    redis.call('DEL', jk(id))
    n = n + 1
  end
end
return n
""",
    "add_schedule": r"""
redis.call('HSET', P .. 'sched', ARGV[8], ARGV[9])
redis.call('HSETNX', P .. 'schedlast', ARGV[8], NOW)
wake()
return 1
""",
    "remove_schedule": r"""
redis.call('HDEL', P .. 'schedlast', ARGV[8])
return redis.call('HDEL', P .. 'sched', ARGV[8])
""",
    "schedules": r"""
local out = {}
local rows = redis.call('HGETALL', P .. 'sched')
for i = 1, #rows, 2 do
  out[#out + 1] = {rows[i], rows[i + 1], redis.call('HGET', P .. 'schedlast', rows[i]) or '0'}
end
return out
""",
    # ARGV 8 schedule id, 9 expected last, 10 new last, 11 count, then jobs as in enqueue
    "claim_schedule": r"""
if redis.call('HEXISTS', P .. 'sched', ARGV[8]) == 0 then return 0 end
if redis.call('HGET', P .. 'schedlast', ARGV[8]) ~= ARGV[9] then return 0 end
redis.call('HSET', P .. 'schedlast', ARGV[8], ARGV[10])
enqueue_many(12, tonumber(ARGV[11]))
return 1
""",
}

_NEEDS_ENQUEUE = {"enqueue", "claim_schedule"}

# Each script carries only the helpers it uses: Lua defines them on every call.
SCRIPTS: dict[str, str] = {
    name: _HEAD + (_ENQUEUE if name in _NEEDS_ENQUEUE else _WORKER) + body
    for name, body in _BODIES.items()
}
