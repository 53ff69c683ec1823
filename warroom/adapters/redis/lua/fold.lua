-- Move a campaign generation's `prev` boards forward: fold the sales of the minutes
-- that left the recent window into them, once (see apply.lua and core/live/ranking.py).
-- KEYS[1] = `lbprev:from`; KEYS[2..] = the minute boards to fold, each followed by the
-- `prev` set it folds into (pairs). ARGV[1] = the frontier the caller read ('' when
-- none yet), ARGV[2] = the new frontier. Returns 'moved' when another reader folded
-- first (the caller re-reads), else 'ok'.
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 'moved' end
for i = 2, #KEYS, 2 do
  local rows = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  for j = 1, #rows, 2 do redis.call('ZINCRBY', KEYS[i + 1], rows[j + 1], rows[j]) end
end
redis.call('SET', KEYS[1], ARGV[2])
return 'ok'
