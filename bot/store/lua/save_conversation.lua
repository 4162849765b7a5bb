-- Compare-and-set a conversation outside any event (maintenance and tests; agents commit steps).
-- KEYS: 1 state hash, 2 history list
-- ARGV: 1 expected version, 2 conversation JSON, 3 conversation id, 4 TTL, 5 history summary or ''
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', current + 1, 'id', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[5])
  redis.call('LTRIM', KEYS[2], 0, 19)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
return 1
