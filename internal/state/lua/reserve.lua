-- Reserve: add ARGV[3] to the counter KEYS[1] if its total stays within ARGV[4].
-- KEYS: the counter, the index of all keys, the holder's index.
-- ARGV: now, prefix, amount, limit, window end (0: none), idle time (0: none), owner, max keys,
-- max keys per owner. Returns {'ok'|'no', total} or {'full'|'caller_full'}.
local key, all, holder = KEYS[1], KEYS[2], KEYS[3]
local amount, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local ends, idle = tonumber(ARGV[5]), tonumber(ARGV[6])

local c = redis.call('HMGET', key, 't', 'u', 'o')
local total, owner = tonumber(c[1]), c[3]
if not total or not redis.call('ZSCORE', all, key) then
  local full = room(all, key, ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]))
  if full then return {full} end
  total, owner = nil, ARGV[7]
end
if total and ((ends > 0 and now > ends) or (idle > 0 and now - tonumber(c[2]) > idle)) then
  total = nil -- gone: it starts again
end
total = total or 0

local verdict = 'no'
if total + amount <= limit then
  total = total + amount
  verdict = 'ok'
end
redis.call('HSET', key, 't', fmt(total), 'u', NOW, 'o', owner)
local expiry = math.huge
if ends > 0 then expiry = ends end
if idle > 0 then expiry = math.min(expiry, now + idle) end
keep(key, all, holder, owner, expiry)
return {verdict, fmt(total)}
