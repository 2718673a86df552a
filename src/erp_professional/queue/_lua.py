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
-- the key of a job this token holds, and the task whose concurrency slot it holds (or false)
local function owned(id, token)
  local key = jk(id)
  if token == '' then return nil end
  local v = redis.call('HMGET', key, 'status', 'token', 'lim')
  if v[1] == 'active' and v[2] == token then return key, v[3] end
  return nil
end
-- a running job stops: give back its task's concurrency slot, wake workers for parked jobs
local function free_slot(id, key, lim)
  if not lim or lim == '' then return end
  redis.call('HDEL', key, 'lim')
  redis.call('SREM', P .. 'tact:' .. lim, id)
  if redis.call('EXISTS', P .. 'park:' .. lim) == 1 then wake() end
end
local function do_complete(id, token, result, keep_done, ttl)
  local key, lim = owned(id, token)
  if not key then return 0 end
  redis.call('ZREM', P .. 'active', id)
  free_slot(id, key, lim)
  redis.call('HSET', key, 'result', result)
  finish(id, key, 'completed', keep_done)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  return 1
end
local function do_fail(id, token, outcome, retry_at, err, tb, keep_done)
  local key, lim = owned(id, token)
  if not key then return 0 end
  redis.call('ZREM', P .. 'active', id)
  free_slot(id, key, lim)
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
-- Limits. Definitions live in the hash 'limits' (task -> JSON {"c": concurrency or 0,
-- "r": [[amount, window ms], ...]}; field '' is the whole queue). 'tact:<task>' holds the
-- running jobs of a task with a concurrency limit (the job's 'lim' field names the task),
-- 'tlog:<task>' and 'qlog' the start times (member: fencing token) of rate-limited work,
-- 'park:<task>' the jobs held back (scored like 'wait'; the job's 'park' field names the
-- task) and 'parked' the tasks that have any.
local BIG = 1e15
local function rate_budget(log, rates)
  local widest = 0
  for _, r in ipairs(rates) do if r[2] > widest then widest = r[2] end end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', NOW - widest)
  local budget, free = BIG, -1
  for _, r in ipairs(rates) do
    local left = r[1] - redis.call('ZCOUNT', log, '(' .. (NOW - r[2]), '+inf')
    if left < budget then budget = left end
    if left <= 0 then
      -- once the amount-th newest start leaves the window, fewer than amount remain
      local e = redis.call('ZRANGE', log, -r[1], -r[1], 'WITHSCORES')
      local f = tonumber(e[2]) + r[2]
      if f > free then free = f end
    end
  end
  return budget, free, widest
end
local function lease_job(id, key, tok, worker, lease, jobs)
  -- the job (already off the wait set) becomes active under token tok until NOW + lease
  redis.call('ZREM', P .. 'waitt', id)
  redis.call('HSET', key, 'status', 'active', 'token', tok, 'started', NOW,
    'worker', worker, 'abort', '')
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('ZADD', P .. 'active', NOW + lease, id)
  jobs[#jobs + 1] = redis.call('HGETALL', key)
end
local function unpark(id, key, t)
  redis.call('ZREM', P .. 'park:' .. t, id)
  redis.call('HSET', key, 'park', '')
  if redis.call('EXISTS', P .. 'park:' .. t) == 0 then
    redis.call('SREM', P .. 'parked', t)
  end
end
local function task_of(key)
  local t = redis.call('HGET', key, 'task')
  if t then return t end
  return cjson.decode(redis.call('HGET', key, 'd')).task
end
local function fetch_limited(n, lease, worker, jobs)
  local defs = {}
  local flat = redis.call('HGETALL', P .. 'limits')
  for i = 1, #flat, 2 do defs[flat[i]] = flat[i + 1] end
  local wake_at = -1
  local function sooner(t)
    if t >= 0 and (wake_at < 0 or t < wake_at) then wake_at = t end
  end
  local want, qrate, qwide = n, false, 0
  if defs[''] then
    local q = cjson.decode(defs[''])
    if q.c > 0 then
      local room = q.c - redis.call('ZCARD', P .. 'active')
      if room < n then n = room end
    end
    if #q.r > 0 then
      local budget, free
      budget, free, qwide = rate_budget(P .. 'qlog', q.r)
      qrate = true
      if budget < n then n = budget end
      sooner(free)
    end
  end
  if n <= 0 then return wake_at end
  local gates = {}
  local function gate(t)
    local g = gates[t]
    if g then return g end
    g = {cap = BIG, conc = false, rate = false, wide = 0, free = -1}
    if defs[t] then
      local d = cjson.decode(defs[t])
      if d.c > 0 then
        g.conc = true
        g.cap = d.c - redis.call('SCARD', P .. 'tact:' .. t)
      end
      if #d.r > 0 then
        local budget, free
        budget, free, g.wide = rate_budget(P .. 'tlog:' .. t, d.r)
        g.rate = true
        -- a full concurrency limit frees on a completion, not at a time
        if g.cap > 0 then g.free = free end
        if budget < g.cap then g.cap = budget end
      end
    end
    gates[t] = g
    return g
  end
  local function head(t)
    local h = redis.call('ZRANGE', P .. 'park:' .. t, 0, 0, 'WITHSCORES')
    if #h == 0 then return nil end
    return {h[1], tonumber(h[2])}
  end
  local heads = {}
  for _, t in ipairs(redis.call('SMEMBERS', P .. 'parked')) do
    local g, h = gate(t), head(t)
    if not h then
      redis.call('SREM', P .. 'parked', t)
    elseif g.cap > 0 then
      heads[t] = h
    else
      sooner(g.free)
    end
  end
  local moved = 0
  while #jobs < n and moved < 1000 do
    local id, score, src = nil, nil, nil
    local w = redis.call('ZRANGE', P .. 'wait', 0, 0, 'WITHSCORES')
    if #w > 0 then id, score = w[1], tonumber(w[2]) end
    for t, h in pairs(heads) do
      if score == nil or h[2] < score then id, score, src = h[1], h[2], t end
    end
    if id == nil then break end
    local key, t = jk(id), src
    if src then
      unpark(id, key, src)
    else
      redis.call('ZREM', P .. 'wait', id)
      t = task_of(key)
    end
    local g = gate(t)
    if g.cap <= 0 then
      -- its task is at a limit: park it, keeping its place, and look at the next job
      redis.call('ZADD', P .. 'park:' .. t, score, id)
      redis.call('SADD', P .. 'parked', t)
      redis.call('HSET', key, 'park', t)
      sooner(g.free)
      moved = moved + 1
    else
      g.cap = g.cap - 1
      local tok = redis.call('INCR', P .. 'token')
      if g.conc then
        redis.call('SADD', P .. 'tact:' .. t, id)
        redis.call('HSET', key, 'lim', t)
      end
      if g.rate then
        redis.call('ZADD', P .. 'tlog:' .. t, NOW, tok)
        redis.call('PEXPIRE', P .. 'tlog:' .. t, g.wide)
      end
      if qrate then
        redis.call('ZADD', P .. 'qlog', NOW, tok)
        redis.call('PEXPIRE', P .. 'qlog', qwide)
      end
      lease_job(id, key, tok, worker, lease, jobs)
      if g.cap <= 0 then
        heads[t] = nil
      elseif src then
        heads[src] = head(src)
      end
    end
  end
  if moved >= 1000 then sooner(NOW) end
  if #jobs >= want and redis.call('ZCARD', P .. 'wait') > 0 then wake() end
  return wake_at
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
      free_slot(id, key, redis.call('HGET', key, 'lim'))
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
  local wake_at = -1
  if redis.call('EXISTS', P .. 'limits', P .. 'parked') > 0 then
    wake_at = fetch_limited(n, lease, worker, jobs)
  elseif redis.call('ZCARD', P .. 'wait') > 0 then
    local popped = redis.call('ZPOPMIN', P .. 'wait', n)
    local tok = redis.call('INCRBY', P .. 'token', #popped / 2) - #popped / 2
    for i = 1, #popped, 2 do
      local id = popped[i]
      local key = jk(id)
      tok = tok + 1
      lease_job(id, key, tok, worker, lease, jobs)
    end
    if redis.call('ZCARD', P .. 'wait') > 0 then wake() end
  end
  local d = redis.call('ZRANGE', P .. 'delay', 0, 0, 'WITHSCORES')
  local a = redis.call('ZRANGE', P .. 'active', 0, 0, 'WITHSCORES')
  if #d > 0 and (wake_at < 0 or tonumber(d[2]) < wake_at) then wake_at = tonumber(d[2]) end
  if #a > 0 and (wake_at < 0 or tonumber(a[2]) < wake_at) then wake_at = tonumber(a[2]) end
  return {#reclaimed, wake_at, jobs}
end
"""

_ENQUEUE = r"""
local function enqueue_one(id, task, dedup, dedup_ttl, run_at, prio, data)
  local key = jk(id)
  if dedup ~= '' then
    local held = redis.call('GET', P .. 'dedup:' .. dedup)
    if held then return {held, 0} end
  end
  if redis.call('EXISTS', key) == 1 then return {id, 0} end
  local score = -prio * 1000000000000 + redis.call('INCR', P .. 'seq')
  local status = 'waiting'
  if run_at > NOW then status = 'delayed' end
  redis.call('HSET', key, 'd', data, 'id', id, 'task', task, 'score', score,
    'priority', prio, 'created', NOW, 'run_at', run_at, 'status', status)
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
    out[#out + 1] = enqueue_one(ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]),
      tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), ARGV[i + 6])
    i = i + 7
  end
  wake()
  return out
end
"""


_BODIES = {
    # ARGV 3: count, then per job: id, task, dedup, dedup_ttl (ms), run_at (ms), priority, data
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
local key, lim = owned(ARGV[8], ARGV[9])
if not key then return 0 end
redis.call('ZREM', P .. 'active', ARGV[8])
free_slot(ARGV[8], key, lim)
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
local parked = redis.call('HGET', key, 'park')
if parked and parked ~= '' then
  unpark(id, key, parked)
end
finish(id, key, 'cancelled', tonumber(ARGV[10]))
return 1
""",
    "stats": r"""
local oldest = redis.call('ZRANGE', P .. 'waitt', 0, 0, 'WITHSCORES')
local t = -1
if #oldest > 0 then t = tonumber(oldest[2]) end
local parked = 0
for _, task in ipairs(redis.call('SMEMBERS', P .. 'parked')) do
  parked = parked + redis.call('ZCARD', P .. 'park:' .. task)
end
return {redis.call('ZCARD', P .. 'wait'), redis.call('ZCARD', P .. 'delay'),
  redis.call('ZCARD', P .. 'active'), redis.call('ZCARD', P .. 'done'),
  redis.call('ZCARD', P .. 'dead'), t, parked}
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
    # ARGV 8.. pairs of task ('' for the queue) and JSON definition ('' removes it)
    "set_limits": r"""
for i = 8, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', P .. 'limits', ARGV[i])
  else
    redis.call('HSET', P .. 'limits', ARGV[i], ARGV[i + 1])
  end
end
wake()
return 1
""",
    "limits": "return redis.call('HGETALL', P .. 'limits')",
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
