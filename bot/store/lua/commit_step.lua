-- Save one handled event atomically: the conversation, its new transcript lines and the
-- event's effects. Refuses a replayed event (-1) and a stale conversation version (0).
-- KEYS: 1 state hash, 2 transcript list, 3 event hash, 4 history list
-- ARGV: 1 expected version, 2 conversation JSON, 3 conversation id, 4 conversation TTL,
--       5 effects JSON, 6 event TTL, 7 transcript cap, 8 history summary JSON or '',
--       9.. transcript entries JSON
if redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return 0
end
local ttl = tonumber(ARGV[4])
local old_id = redis.call('HGET', KEYS[1], 'id')
if old_id and old_id ~= ARGV[3] then
  -- A new conversation starts with an empty transcript.
  redis.call('DEL', KEYS[2])
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', current + 1, 'id', ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
if #ARGV >= 9 then
  for i = 9, #ARGV do
    redis.call('RPUSH', KEYS[2], ARGV[i])
  end
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[7]), -1)
  redis.call('EXPIRE', KEYS[2], ttl)
end
if ARGV[8] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[8])
  redis.call('LTRIM', KEYS[4], 0, 19)
  -- Earlier conversations' summaries are never kept for less than they already were.
  if redis.call('TTL', KEYS[4]) < ttl then
    redis.call('EXPIRE', KEYS[4], ttl)
  end
end
redis.call('HSET', KEYS[3], 'effects', ARGV[5], 'applied', '0')
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
return 1
