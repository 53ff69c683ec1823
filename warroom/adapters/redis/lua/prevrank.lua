-- What ranks before the recent minutes need, for the few rows a screen shows: flat in
-- the number of entities (one ZSCORE, ZCOUNT and score level per row).
-- KEYS[1] = a board's `prev` set; ARGV = entity ids. Returns per id {score or '',
-- entities above it, entities at its score (at most 1000)}; the caller breaks ties by
-- id in its own collation (Lua's string order follows the server's locale).
local out = {}
for i, id in ipairs(ARGV) do
  local s = redis.call('ZSCORE', KEYS[1], id)
  if s and tonumber(s) > 0 then
    local above = redis.call('ZCOUNT', KEYS[1], '(' .. s, '+inf')
    local level = redis.call('ZRANGEBYSCORE', KEYS[1], s, s, 'LIMIT', 0, 1000)
    out[i] = {s, above, level}
  else
    out[i] = {'', 0, {}}
  end
end
return out
