-- DecideApproval: approve or deny a pending approval that has not expired.
-- KEYS: the approval, the index of pending approvals.
-- ARGV: now, prefix, retention, the approval's id, 'approved' or 'denied', approver, note.
-- Returns {'decided'|'not_pending', field, value, ...} (the approval as it now stands) or {'none'}
-- when it is not kept.
local key, pending = KEYS[1], KEYS[2]
local c = redis.call('HMGET', key, 'status', 'expires')
local status, expires = c[1], tonumber(c[2])
if not status or not expires or now > expires + tonumber(ARGV[3]) then return {'none'} end
local verdict = 'not_pending'
if status == 'pending' and now <= expires then
  redis.call('HSET', key, 'status', ARGV[5], 'approver', ARGV[6], 'note', ARGV[7], 'decided', NOW)
  redis.call('ZREM', pending, ARGV[4])
  verdict = 'decided'
end
local r = redis.call('HGETALL', key)
table.insert(r, 1, verdict)
return r
