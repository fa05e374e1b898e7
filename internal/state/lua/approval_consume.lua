-- ConsumeApproval: mark an approved approval that has not expired used.
-- KEYS: the approval. ARGV: now, prefix, retention.
-- Returns {'used'|'no', field, value, ...} (the approval as it now stands) or {'none'} when it is
-- not kept.
local key = KEYS[1]
local c = redis.call('HMGET', key, 'status', 'expires')
local status, expires = c[1], tonumber(c[2])
if not status or not expires or now > expires + tonumber(ARGV[3]) then return {'none'} end
local verdict = 'no'
if status == 'approved' and now <= expires then
  redis.call('HSET', key, 'status', 'used')
  verdict = 'used'
end
local r = redis.call('HGETALL', key)
table.insert(r, 1, verdict)
return r
