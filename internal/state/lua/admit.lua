-- Admit: take a slot of a rate limit (a generic cell rate algorithm: the cell holds the theoretical
-- arrival time of the next call, tat).
-- KEYS: the cell, the index of all keys, the holder's index.
-- ARGV: now, prefix, interval (per / limit), per, owner, max keys, max keys per owner.
-- Returns {'ok'}, {'no', retry after} or {'full'|'caller_full'}.
local key, all, holder = KEYS[1], KEYS[2], KEYS[3]
local interval, per = tonumber(ARGV[3]), tonumber(ARGV[4])

local c = redis.call('HMGET', key, 'tat', 'o')
local tat, owner = tonumber(c[1]), c[2]
if not tat or not redis.call('ZSCORE', all, key) then
  local full = room(all, key, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]))
  if full then return {full} end
  tat, owner = nil, ARGV[5]
end
if not tat or tat < now then tat = now end
-- Admit while the backlog (tat - now) leaves room for one more interval within per.
if tat - now > per - interval then
  return {'no', string.format('%.0f', tat - now - (per - interval))}
end
tat = tat + interval
redis.call('HSET', key, 'tat', string.format('%.0f', tat), 'o', owner)
keep(key, all, holder, owner, tat)
return {'ok'}
