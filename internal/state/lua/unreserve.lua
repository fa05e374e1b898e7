-- Release of a Reserve: take ARGV[3] back from the counter KEYS[1], if it is still kept.
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if t then redis.call('HSET', KEYS[1], 't', fmt(t - tonumber(ARGV[3]))) end
return 0
