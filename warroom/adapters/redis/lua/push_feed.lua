-- Put one item on a live feed once, in id order, and keep the newest ARGV[3].
-- KEYS[1] the feed (a list of JSON items, oldest first); ARGV[1] the item's JSON,
-- ARGV[2] its id. Returns 1 if the item was added, 0 if an item with that id is there.
-- Two posters of the same report (its announcer and the next tick's catch-up after a
-- crash) may both push it: the feed still shows it once.
local id = tonumber(ARGV[2])
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local before = nil
for i = 1, #items do
  local other = tonumber(cjson.decode(items[i])['id'])
  if other == id then
    return 0
  end
  if before == nil and other ~= nil and other > id then
    before = items[i]
  end
end
if before == nil then
  redis.call('RPUSH', KEYS[1], ARGV[1])
else
  redis.call('LINSERT', KEYS[1], 'BEFORE', before, ARGV[1])
end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
return 1
