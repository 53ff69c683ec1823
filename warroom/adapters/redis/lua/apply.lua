-- Apply one batch of aggregated deltas, exactly once per ledger id, to every live
-- generation of a campaign's hot state.
-- KEYS[1], KEYS[2] = the campaign's `gen` and `gen:next` pointers; KEYS[3..] = every
-- key the batch touches in the generations the caller read (HotState.apply lists
-- them; a key not declared is refused, so the script runs unchanged on a Redis
-- Cluster, where all of one campaign's keys share its hash tag and slot).
-- ARGV[1] = JSON from BatchPlan.as_payload; ARGV[2] = '' for every generation present
-- (the live `gen` and, during a rebuild, `gen:next`), or one generation number (a
-- rebuild replaying the ledger into it); ARGV[3] = the generations the caller expects.
-- Returns 'ok'; 'stale' when the generations changed since the caller read them (it
-- retries); 'lost' when no generation exists (hot state wiped: the restore that
-- follows replays the ledger, which already holds these events); or, when some ledger
-- ids were applied before, nothing is written and {gen: [ids]} is returned so the
-- caller re-plans per generation: check and mark happen in one atomic step.
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local function call(cmd, key, ...)
  if not declared[key] then error('undeclared key ' .. tostring(key)) end
  return redis.call(cmd, key, ...)
end

local base = string.sub(KEYS[1], 1, -4)  -- "wr:{slug}:gen" less "gen"
local a = cjson.decode(ARGV[1])
local only = ARGV[2] or ''
local expected = cjson.decode(ARGV[3] or '[]')

local gens = {}
local live = call('GET', KEYS[1])
local nxt = call('GET', KEYS[2])
if only ~= '' then
  if only == live or only == nxt then gens[1] = only end
  if #gens == 0 then return 'gone' end
else
  if live then gens[#gens + 1] = live end
  if nxt and nxt ~= live then gens[#gens + 1] = nxt end
  if #gens == 0 then return 'lost' end
end
if #gens ~= #expected then return 'stale' end
for i, g in ipairs(gens) do
  if tostring(expected[i]) ~= g then return 'stale' end
end

-- BITFIELD reads/writes many bits per call (a call per event would dominate the cost).
local CHUNK = 200
local any_seen = false
local seen_by_gen = {}
for _, g in ipairs(gens) do
  local applied = base .. 'g:' .. g .. ':applied'
  local seen = {}
  for i = 1, #a.lids, CHUNK do
    local args = {}
    local last = math.min(i + CHUNK - 1, #a.lids)
    for j = i, last do
      args[#args + 1] = 'GET'; args[#args + 1] = 'u1'; args[#args + 1] = a.lids[j]
    end
    local bits = call('BITFIELD', applied, unpack(args))
    for k, bit in ipairs(bits) do
      if bit == 1 then seen[#seen + 1] = a.lids[i + k - 1] end
    end
  end
  if #seen > 0 then any_seen = true end
  seen_by_gen[g] = seen
end
if any_seen then return cjson.encode(seen_by_gen) end

local function apply_to(p)
local applied = p .. 'applied'
for i = 1, #a.lids, CHUNK do
  local args = {}
  for j = i, math.min(i + CHUNK - 1, #a.lids) do
    args[#args + 1] = 'SET'; args[#args + 1] = 'u1'; args[#args + 1] = a.lids[j]; args[#args + 1] = 1
  end
  call('BITFIELD', applied, unpack(args))
end

local tot = p .. 'tot'
for k, v in pairs(a.tot) do call('HINCRBY', tot, k, v) end
for metric, flat in pairs(a.min) do
  local key = p .. 'm:' .. metric
  for i = 1, #flat, 2 do call('HINCRBY', key, flat[i], flat[i + 1]) end
end

local function sadd_count(key, members)
  local added = 0
  for i = 1, #members, 500 do
    added = added + call('SADD', key, unpack(members, i, math.min(i + 499, #members)))
  end
  return added
end

for _, row in ipairs(a.buyers) do
  local minute, buyers = row[1], row[2]
  local new_total = sadd_count(p .. 'buyers', buyers)
  if new_total > 0 then call('HINCRBY', tot, 'buyers', new_total) end
  local new_minute = sadd_count(p .. 'm:b:' .. minute, buyers)
  if new_minute > 0 then call('HINCRBY', p .. 'm:buyers', minute, new_minute) end
end
-- Per minute, the buyers whose earliest order falls in it: cumulative sums give the
-- exact distinct buyers as of any minute (reports' settled figures), in any arrival order.
local first = {}
local blist = {}
for _, row in ipairs(a.buyers) do
  local minute = tonumber(row[1])
  for _, b in ipairs(row[2]) do
    local f = first[b]
    if f == nil then blist[#blist + 1] = b end
    if f == nil or minute < f then first[b] = minute end
  end
end
for i = 1, #blist, 500 do
  local chunk = {unpack(blist, i, math.min(i + 499, #blist))}
  local old = call('HMGET', p .. 'bfirst', unpack(chunk))
  local sets = {}
  for k, b in ipairs(chunk) do
    local m = first[b]
    local o = old[k] and tonumber(old[k])
    if (not o) or m < o then
      if o then call('HINCRBY', p .. 'm:newbuyers', string.format('%d', o), -1) end
      call('HINCRBY', p .. 'm:newbuyers', string.format('%d', m), 1)
      sets[#sets + 1] = b; sets[#sets + 1] = string.format('%d', m)
    end
  end
  if #sets > 0 then call('HSET', p .. 'bfirst', unpack(sets)) end
end
if #a.active > 0 then
  local n = sadd_count(p .. 'active', a.active)
  if n > 0 then call('HINCRBY', tot, 'active_members', n) end
end

-- Each board's `prev` set holds the scores before the recent minutes: sales in
-- minutes below the fold frontier `lbprev:from` (fold.lua moves it) and every refund.
local fold_from = tonumber(call('GET', p .. 'lbprev:from') or '-1')
local boards = {'sellers', 'groups', 'products'}
for _, b in ipairs(boards) do
  local d = a.boards[b]
  local z = p .. 'lb:' .. b
  for i = 1, #d.gmv, 2 do call('ZINCRBY', z, d.gmv[i + 1], d.gmv[i]) end
  for i = 1, #d.orders, 2 do call('HINCRBY', z .. ':o', d.orders[i], d.orders[i + 1]) end
  for _, row in ipairs(d.minute) do
    local mz = z .. ':m:' .. row[1]
    local flat = row[2]
    local folded = tonumber(row[1]) < fold_from
    for i = 1, #flat, 2 do
      call('ZINCRBY', mz, flat[i + 1], flat[i])
      if folded then call('ZINCRBY', z .. ':prev', flat[i + 1], flat[i]) end
    end
  end
  -- chunked: unpack() of more than a few thousand values fails (thousands of names)
  for i = 1, #d.names, 1000 do
    call('HSET', z .. ':n', unpack(d.names, i, math.min(i + 999, #d.names)))
  end
end

-- A refund never takes an order below zero: apply at most what is left of it.
local function apply_refund(oid, amount, seller, group, product, refund, minute)
  local done = tonumber(call('HGET', p .. 'refd', oid) or '0')
  local x = math.min(refund, amount - done)
  if x <= 0 then return end
  call('HINCRBY', p .. 'refd', oid, x)
  call('HINCRBY', tot, 'refund', x)
  call('HINCRBY', p .. 'm:refund', minute, x)
  call('ZINCRBY', p .. 'lb:sellers', -x, seller)
  call('ZINCRBY', p .. 'lb:groups', -x, group)
  call('ZINCRBY', p .. 'lb:products', -x, product)
  call('ZINCRBY', p .. 'lb:sellers:prev', -x, seller)
  call('ZINCRBY', p .. 'lb:groups:prev', -x, group)
  call('ZINCRBY', p .. 'lb:products:prev', -x, product)
end

local any_waiting = call('HLEN', p .. 'refpend') > 0
for i = 1, #a.orders, CHUNK do
  local last = math.min(i + CHUNK - 1, #a.orders)
  local fields, oids = {}, {}
  for j = i, last do
    local o = a.orders[j]
    fields[#fields + 1] = o[1]
    fields[#fields + 1] = o[6]  -- JSON [amount, seller, group, product], made by the planner
    oids[#oids + 1] = o[1]
  end
  call('HSET', p .. 'ord', unpack(fields))
  if any_waiting then
    local waiting = call('HMGET', p .. 'refpend', unpack(oids))
    for k = 1, #oids do
      if waiting[k] then
        local o = a.orders[i + k - 1]
        -- counted in the later of the refund's minute and the order's
        local rm = tonumber(call('HGET', p .. 'refpendm', o[1]) or '0')
        local om = tonumber(o[7])
        call('HDEL', p .. 'refpend', o[1])
        call('HDEL', p .. 'refpendm', o[1])
        apply_refund(o[1], o[2], o[3], o[4], o[5], tonumber(waiting[k]), string.format('%d', math.max(rm, om)))
      end
    end
  end
end

for _, r in ipairs(a.refunds) do
  local oid, refund, rminute = r[1], r[2], r[3]
  local info = call('HGET', p .. 'ord', oid)
  if info then
    local f = cjson.decode(info)
    apply_refund(oid, f[1], f[2], f[3], f[4], refund, rminute)
  else
    -- The order has not arrived yet: the refund waits for it.
    call('HINCRBY', p .. 'refpend', oid, refund)
    local rm = tonumber(call('HGET', p .. 'refpendm', oid) or '0')
    if tonumber(rminute) > rm then call('HSET', p .. 'refpendm', oid, rminute) end
  end
end

-- Membership: the latest join/leave (by time, then event key) of a member in a group wins.
for _, m in ipairs(a.members) do
  local member, group, ts, key, action = m[1], m[2], m[3], m[4], m[5]
  -- ids are arbitrary text, so fields and values are JSON, never joined with a separator
  local field = cjson.encode({member, group})
  local last = call('HGET', p .. 'mem:last', field)
  local newer = true
  local was_in = false
  if last then
    local l = cjson.decode(last)
    local lts, lkey, laction = l[1], l[2], l[3]
    newer = (ts > lts) or (ts == lts and key > lkey)
    was_in = laction == 'join'
  end
  if newer then
    call('HSET', p .. 'mem:last', field, cjson.encode({ts, key, action}))
    local now_in = action == 'join'
    if now_in ~= was_in then
      local n = call('HINCRBY', p .. 'mem:groups', member, now_in and 1 or -1)
      call('HINCRBY', p .. 'gh:members', group, now_in and 1 or -1)  -- group health
      if now_in and n == 1 then call('HINCRBY', tot, 'members', 1) end
      if (not now_in) and n == 0 then call('HINCRBY', tot, 'members', -1) end
    end
  end
end

-- Group health (群健康): per-group counters for the groups API, kept incrementally so
-- no request scans the ledger. Every key is `p .. 'gh:...'`; fed by a.gh (health.py).
-- Current members per group are counted in the membership block above (gh:members);
-- orders and net GMV per group are lb:groups:o and the lb:groups score.
if a.gh then
  local g = a.gh
  local function hincr_flat(key, flat)
    -- %d: a Lua number passed as is may reach Redis as 1.7e+12
    for i = 1, #flat, 2 do call('HINCRBY', key, flat[i], string.format('%d', flat[i + 1])) end
  end
  local function hmax_flat(key, flat)
    for i = 1, #flat, 2 do
      local old = tonumber(call('HGET', key, flat[i]) or '-1')
      if flat[i + 1] > old then call('HSET', key, flat[i], string.format('%d', flat[i + 1])) end
    end
  end
  -- flat [pair, group, ...]: add the pairs, count the new ones per group
  local function distinct_pairs(set, counts, flat)
    for i = 1, #flat, 2 * CHUNK do
      local last = math.min(i + 2 * CHUNK - 1, #flat)
      local members = {}
      for j = i, last, 2 do members[#members + 1] = flat[j] end
      local known = call('SMISMEMBER', set, unpack(members))
      local fresh = {}
      for k = 1, #members do
        if known[k] == 0 then
          fresh[#fresh + 1] = members[k]
          call('HINCRBY', counts, flat[i + 2 * (k - 1) + 1], 1)
        end
      end
      if #fresh > 0 then call('SADD', set, unpack(fresh)) end
    end
  end
  hincr_flat(p .. 'gh:msg', g.msg)
  hmax_flat(p .. 'gh:lmsg', g.last_msg)
  hmax_flat(p .. 'gh:lord', g.last_ord)
  distinct_pairs(p .. 'gh:w', p .. 'gh:nw', g.writers)
  distinct_pairs(p .. 'gh:b', p .. 'gh:nb', g.buyers)
  for _, row in ipairs(g.mm) do hincr_flat(p .. 'gh:mm:' .. row[1], row[2]) end
  hincr_flat(p .. 'gh:joined', g.joined)
  hincr_flat(p .. 'gh:left', g.left)
  hincr_flat(p .. 'gh:m:joins', g.joins)
  hincr_flat(p .. 'gh:m:leaves', g.leaves)
  hincr_flat(p .. 'gh:gmv', a.boards.groups.gmv)
end

local last_ts = tonumber(call('HGET', tot, 'last_ts') or '0')
if a.max_ts > last_ts then call('HSET', tot, 'last_ts', string.format('%d', a.max_ts)) end
call('HSET', tot, 'applied_at', string.format('%d', a.now))
end

for _, g in ipairs(gens) do apply_to(base .. 'g:' .. g .. ':') end
return 'ok'
