"""Pure: the Lua scripts the cluster runs in Redis; each is one atomic round trip (EVALSHA).

Numbers go back to Redis through ``string.format('%.0f', x)``: Lua's own number-to-string
conversion keeps 14 digits, too few for times in microseconds. Every time is Redis ``TIME``,
one clock for all workers; the workers' own clocks only bound how long they act on a lease.
"""

from __future__ import annotations

__all__ = ["COMMIT", "HELLO", "PERMIT", "RELEASE", "REPLAY", "SUBMIT", "THROTTLE", "TICK"]


def _epoch(epoch: str, config: str, nonce: str, partitions: str) -> str:
    """Lua that reads (or sets to ``nonce``) the epoch and records the partition count once."""
    return f"""local epoch = redis.call('GET', {epoch})
local created = 0
if not epoch then
  redis.call('SET', {epoch}, {nonce})
  epoch = {nonce}
  created = 1
end
redis.call('HSETNX', {config}, 'partitions', {partitions})
"""


def _rate_state(field: str) -> str:
    """Lua that reads Redis ``TIME`` (us) and the shared rate, capped at the limit (ARGV[1])."""
    return f"""local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'paused', '{field}')
local limit = tonumber(ARGV[1])
local rate = math.min(tonumber(h[2]) or limit, limit)
local function f(x) return string.format('%.0f', x) end
"""


# The epoch (set to ARGV[1] if missing) and the partition count. KEYS: epoch, config; ARGV: nonce,
# partitions.
HELLO = (
    "\n"
    + _epoch("KEYS[1]", "KEYS[2]", "ARGV[1]", "ARGV[2]")
    + "return {epoch, created, redis.call('HGET', KEYS[2], 'partitions')}\n"
)

# Add (ARGV[2] == 'add') or remove jobs of watch ARGV[1]; a partition's version is bumped only if
# its set changed. A job removed leaves nothing of it in the watch, whoever holds it: its ``s:`` and
# ``v:`` fields go too, and its pending events ``e:JOB:WATCH\nID`` (one HSCAN of ``e:*``).
# KEYS: watches, watch:W:jobs, partver, then part:P and state:P per partition. ARGV: watch, op,
# then per partition P, a count n and n job members.
SUBMIT = """
local watch, add = ARGV[1], ARGV[2] == 'add'
local changed, a = 0, 3
for k = 4, #KEYS, 2 do
  local partition, n = ARGV[a], tonumber(ARGV[a + 1])
  local moved, gone = 0, {}
  for j = a + 2, a + 1 + n do
    local job = ARGV[j]
    if add then
      moved = moved + redis.call('SADD', KEYS[k], job .. ':' .. watch)
      redis.call('SADD', KEYS[2], job)
    else
      moved = moved + redis.call('SREM', KEYS[k], job .. ':' .. watch)
      redis.call('SREM', KEYS[2], job)
      redis.call('HDEL', KEYS[k + 1], 's:' .. job .. ':' .. watch, 'v:' .. job .. ':' .. watch)
      gone['e:' .. job .. ':' .. watch] = true
    end
  end
  if not add then
    local cursor = '0'
    repeat
      local reply = redis.call('HSCAN', KEYS[k + 1], cursor, 'MATCH', 'e:*', 'COUNT', 1000)
      cursor = reply[1]
      for i = 1, #reply[2], 2 do
        local field = reply[2][i]
        local cut = string.find(field, '\\n', 1, true)
        if cut and gone[string.sub(field, 1, cut - 1)] then redis.call('HDEL', KEYS[k + 1], field) end
      end
    until cursor == '0'
  end
  if moved > 0 then redis.call('HINCRBY', KEYS[3], partition, 1) end
  changed = changed + moved
  a = a + 2 + n
end
if add then
  redis.call('SADD', KEYS[1], watch)
elseif redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[1], watch)
end
return changed
"""

# One lease round (``_leases``). KEYS: members, fence, epoch, config, caps, partver, then lease:P
# for every P. ARGV: worker, ttl ms, nonce, partitions, cap (-1: none), scan offset, n held, n
# (partition, token) pairs. Returns {'ok', epoch, created, live, now ms, kept{p, t...},
# acquired{p, t...}, released{p...}, lost{p...}, versions{p, v...}, behind{p, by...},
# from{p, worker...}, handed{p, worker...}} or {'config', partitions}; ``behind``: lost partitions
# whose fencing counter was below the token held (set back up); ``from``: acquired partitions whose
# last holder (field ``h:P`` of the fence hash) was another worker, no longer live (a takeover),
# with its id; ``handed``: the same, from a live worker (it gave the partition up to rebalance).
# The fair share: capped workers count for at most their cap; the rest split what is left between
# lo = floor and hi = ceil; a worker takes up to hi, but only lo (and gives back down to lo) while
# another live worker is below its own share (lo, or its cap).
TICK = (
    """
local worker, ttl, parts = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
    + _epoch("KEYS[3]", "KEYS[4]", "ARGV[3]", "ARGV[4]")
    + """local have = tonumber(redis.call('HGET', KEYS[4], 'partitions'))
if have ~= parts then return {'config', have} end
local cutoff = '(' .. string.format('%.0f', now)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)) do
  redis.call('HDEL', KEYS[5], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), worker)
if cap >= 0 then redis.call('HSET', KEYS[5], worker, cap) else redis.call('HDEL', KEYS[5], worker) end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local live = #members

local kept, acquired, released, lost, lapsed, behind = {}, {}, {}, {}, {}, {}
local from, handed = {}, {}
local held = tonumber(ARGV[7])
for i = 0, held - 1 do
  local p, token = tonumber(ARGV[8 + 2 * i]), ARGV[9 + 2 * i]
  local key = KEYS[7 + p]
  local current = redis.call('GET', key)
  if current == worker .. ':' .. token then
    redis.call('PEXPIRE', key, ttl)
    kept[#kept + 1] = p
    kept[#kept + 1] = tonumber(token)
  else
    lost[#lost + 1] = p
    if not current then lapsed[#lapsed + 1] = p end
    -- A counter below a token this worker held went back (Redis lost writes: a failover, a
    -- restart from an older snapshot): set it back up, and say how far it went.
    local high = tonumber(redis.call('HGET', KEYS[2], tostring(p)) or '0')
    if high < tonumber(token) then
      redis.call('HSET', KEYS[2], tostring(p), token)
      behind[#behind + 1] = p
      behind[#behind + 1] = tonumber(token) - high
    end
  end
end

local counts, free = {}, 0
for _, m in ipairs(members) do counts[m] = 0 end
for p = 0, parts - 1 do
  local value = redis.call('GET', KEYS[7 + p])
  if value then
    local holder = string.match(value, '^(.+):[0-9]+$')
    if holder and counts[holder] then counts[holder] = counts[holder] + 1 end
  else
    free = free + 1
  end
end
local even = math.ceil(parts / live)
local capped = {}
local flat = redis.call('HGETALL', KEYS[5])
for i = 1, #flat, 2 do capped[flat[i]] = tonumber(flat[i + 1]) end
local caps, left, uncapped = {}, parts, 0
for _, m in ipairs(members) do
  local c = capped[m]
  if c then
    caps[m] = math.min(c, even)
    left = left - caps[m]
  else
    uncapped = uncapped + 1
  end
end
if left < 0 then left = 0 end
local lo, hi = 0, 0
if uncapped > 0 then
  lo, hi = math.floor(left / uncapped), math.ceil(left / uncapped)
end
local starving = false
for _, m in ipairs(members) do
  if m ~= worker and counts[m] < (caps[m] or lo) then starving = true end
end
local target = hi
if starving then target = lo end
if cap >= 0 then target = math.min(cap, even) end

local count = #kept / 2
while count > target do
  local token = table.remove(kept)
  local p = table.remove(kept)
  redis.call('DEL', KEYS[7 + p])
  released[#released + 1] = p
  count = count - 1
end
local function take(p)
  local key = KEYS[7 + p]
  if redis.call('EXISTS', key) == 1 then return end
  local field = tostring(p)
  -- A token is the clock in ms, or one above the last if that is higher: tokens grow even
  -- when the counter went back or is missing (Redis wiped, or a failover to a replica that
  -- lagged), unless a partition was acquired more than once a ms on average, or the clock
  -- of Redis went back.
  local token = math.max(tonumber(redis.call('HGET', KEYS[2], field) or '0') + 1, now)
  redis.call('HSET', KEYS[2], field, string.format('%.0f', token))
  redis.call('SET', key, worker .. ':' .. string.format('%.0f', token), 'PX', ttl)
  local last = redis.call('HGET', KEYS[2], 'h:' .. field)
  if last and last ~= worker then
    local list = from
    if counts[last] then list = handed end
    list[#list + 1] = p
    list[#list + 1] = last
  end
  redis.call('HSET', KEYS[2], 'h:' .. field, worker)
  acquired[#acquired + 1] = p
  acquired[#acquired + 1] = token
  count = count + 1
end
for _, p in ipairs(lapsed) do
  if count >= target then break end
  take(p)
end
local offset = tonumber(ARGV[6])
for j = 0, parts - 1 do
  if count >= target then break end
  take((offset + j) % parts)
end
local versions = {}
for _, list in ipairs({kept, acquired}) do
  for i = 1, #list, 2 do
    versions[#versions + 1] = list[i]
    versions[#versions + 1] = tonumber(redis.call('HGET', KEYS[6], tostring(list[i])) or '0')
  end
end
return {'ok', epoch, created, live, now, kept, acquired, released, lost, versions, behind, from,
  handed}
"""
)

# Give leases up and leave. KEYS[1] members, KEYS[2] caps, KEYS[2 + i] lease keys; ARGV[1]
# worker, ARGV[1 + i] tokens.
RELEASE = """
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] .. ':' .. ARGV[i - 1] then redis.call('DEL', KEYS[i]) end
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# A fenced write, all or nothing, only while the lease is this holder's and no newer token was
# issued. A job's write (ARGV[8] ``TYPE:SCOPE:JOB`` in watch ARGV[9]) applies only while the job is
# in the watch; its end (ARGV[10] == '1') takes the job out of the watch; its version ARGV[13]
# replaces ARGV[12] in ``v:JOB:W`` ('': none): sent again it is a no-op {3}, after another write
# of the job it is refused {2, 'stale'}. KEYS: lease, fence, state, the streams, then (a job's)
# part:P, partver, watches, watch:W:jobs from KEYS[ARGV[11]]. ARGV: lease value, partition, token,
# maxlen, counts of fields set, deleted and events, job or '', watch, end, ARGV[11], version
# replaced, own; then field/value pairs, deleted fields, (stream index, event id, payload) per
# event. Returns {1, stream ids...}, {0, reason, detail}, {2, 'gone'/'stale', detail} or {3}.
COMMIT = """
local held = redis.call('GET', KEYS[1])
if held ~= ARGV[1] then return {0, 'not-held', held or ''} end
local high = redis.call('HGET', KEYS[2], ARGV[2])
if high and tonumber(high) > tonumber(ARGV[3]) then return {0, 'outranked', high} end
local job = ARGV[8]
if job ~= '' then
  local g, watch = tonumber(ARGV[11]), ARGV[9]
  if redis.call('SISMEMBER', KEYS[g], job .. ':' .. watch) == 0 then return {2, 'gone', ''} end
  local field, version = 'v:' .. job .. ':' .. watch, ARGV[13]
  if version ~= '' then
    local stored = redis.call('HGET', KEYS[3], field) or ''
    if stored == version then return {3} end
    if stored ~= ARGV[12] then return {2, 'stale', stored} end
    redis.call('HSET', KEYS[3], field, version)
  end
  if ARGV[10] == '1' then
    redis.call('HDEL', KEYS[3], field)
    redis.call('SREM', KEYS[g], job .. ':' .. watch)
    redis.call('HINCRBY', KEYS[g + 1], ARGV[2], 1)
    redis.call('SREM', KEYS[g + 3], job)
    if redis.call('SCARD', KEYS[g + 3]) == 0 then redis.call('SREM', KEYS[g + 2], watch) end
  end
end
local n_set, n_del, n_events = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local a = 14
for j = 0, n_set - 1 do
  redis.call('HSET', KEYS[3], ARGV[a + 2 * j], ARGV[a + 2 * j + 1])
end
a = a + 2 * n_set
for j = 0, n_del - 1 do redis.call('HDEL', KEYS[3], ARGV[a + j]) end
a = a + n_del
local ids = {1}
for j = 0, n_events - 1 do
  local b = a + 3 * j
  ids[#ids + 1] = redis.call('XADD', KEYS[3 + tonumber(ARGV[b])], 'MAXLEN', '~', ARGV[4], '*',
    'id', ARGV[b + 1], 'p', ARGV[b + 2], 'part', ARGV[2], 'tok', ARGV[3])
end
return ids
"""

# GCRA over Redis TIME: up to ARGV[3] permits, at least ARGV[5] (default all) or none, at the shared
# rate, which regrows by ARGV[4] per quiet second up to the limit. KEYS: rate; ARGV: limit, burst,
# most, growth[, least]. Returns {granted, wait us (until the rest, or one more), now us, rate,
# next us (until the next one)}, if no other worker takes any meanwhile.
PERMIT = (
    "\n"
    + _rate_state("grown")
    + """local paused, grown = tonumber(h[3]) or 0, tonumber(h[4]) or 0
if now < paused then return {0, f(paused - now), f(now), tostring(rate), f(paused - now)} end
if rate < limit and now - grown >= 1000000 then
  rate = math.min(limit, rate * tonumber(ARGV[4]))
  grown = now
  redis.call('HSET', KEYS[1], 'rate', string.format('%.17g', rate), 'grown', f(grown))
end
local interval = 1000000 / rate
local tolerance = tonumber(ARGV[2]) * interval
local most, least = tonumber(ARGV[3]), tonumber(ARGV[5] or ARGV[3])
local tat = math.max(tonumber(h[1]) or (now + tolerance), now)
-- The k-th permit from now is due at tat + (k - 1) x interval: granted if within tolerance.
local m = math.max(0, math.min(most, math.floor((now + tolerance - tat) / interval) + 1))
if m >= 1 and tat + (m - 1) * interval - now > tolerance then m = m - 1 end
if m < most and tat + m * interval - now <= tolerance then m = m + 1 end
if m < least then m = 0 end
if m > 0 then redis.call('HSET', KEYS[1], 'tat', f(tat + m * interval)) end
local after = tat + m * interval - tolerance - now
local wait = after + (math.max(most - m, 1) - 1) * interval
return {m, f(math.max(0, wait)), f(now), tostring(rate), f(math.max(0, after))}
"""
)

# A 429 to a request sent at ARGV[3] (us): cut the rate by ARGV[5] (not below ARGV[6]) and pause
# ARGV[4] us, unless it was sent before the last cut; regrowth starts a second after the pause.
# KEYS: rate; ARGV: limit, burst, sent_at, pause, beta, floor. Returns {cut 0/1, rate}.
THROTTLE = (
    "\n"
    + _rate_state("cut")
    + """if tonumber(ARGV[3]) <= (tonumber(h[4]) or 0) then return {0, tostring(rate)} end
rate = math.max(tonumber(ARGV[6]), rate * tonumber(ARGV[5]))
local paused = math.max(tonumber(h[3]) or 0, now + tonumber(ARGV[4]))
local tat = math.max(tonumber(h[1]) or 0, paused + tonumber(ARGV[2]) * 1000000 / rate)
redis.call('HSET', KEYS[1], 'rate', string.format('%.17g', rate), 'paused', f(paused),
  'tat', f(tat), 'cut', f(now), 'grown', f(paused))
return {1, tostring(rate)}
"""
)

# Put dead letters back in their watch's stream (as new entries: every group is given them again)
# and take them out of the dead letters; an id no longer there is skipped. KEYS[1] dead:W,
# KEYS[2] events:W. ARGV[1] the stream's MAXLEN (~), then the dead letters' ids. Returns how many.
REPLAY = """
local done = 0
for i = 2, #ARGV do
  local rows = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #rows == 1 then
    local fields, entry = rows[1][2], {}
    for j = 1, #fields, 2 do
      local name = fields[j]
      if name == 'id' or name == 'p' or name == 'part' or name == 'tok' then
        entry[#entry + 1] = name
        entry[#entry + 1] = fields[j + 1]
      end
    end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(entry))
    redis.call('XDEL', KEYS[1], ARGV[i])
    done = done + 1
  end
end
return done
"""
