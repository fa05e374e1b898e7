-- Forget: drop every counter and cell a holder kept, and lift a kill of it.
-- KEYS: the holder's index, the index of all keys, the kills. ARGV: now, prefix, holder.
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local o = redis.call('HGET', k, 'o')
  if o then redis.call('ZREM', prefix .. 'o:' .. o, k) end
  redis.call('DEL', k)
  redis.call('ZREM', KEYS[2], k)
end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[3], ARGV[3])
return 0
