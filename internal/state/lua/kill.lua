-- Kill: mark scope ARGV[3] killed for reason ARGV[4]; a scope killed again keeps its first time.
-- KEYS: the kills (a hash: scope -> "<since, µs> <reason>").
local v = redis.call('HGET', KEYS[1], ARGV[3])
local since = v and string.match(v, '^(%d+) ') or NOW
redis.call('HSET', KEYS[1], ARGV[3], since .. ' ' .. ARGV[4])
return 0
