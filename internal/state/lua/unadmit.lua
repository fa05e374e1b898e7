-- Release of an Admit: give the slot back (tat - interval), if the cell is still kept.
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat'))
if tat then redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat - tonumber(ARGV[3]))) end
return 0
