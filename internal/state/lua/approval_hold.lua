-- Hold: use, report or unbind the approval bound to a call, or store a new pending one
-- (ApprovalStore.Hold). An approval is a hash (approval_redis.go); it is expired once now is past
-- its expires, and gone once now is past expires + retention.
-- KEYS: the binding (a hash: id -> the bound approval's id), the new approval, the index of
-- approvals (id scored by when it is gone), the index of pending approvals (id scored by expires),
-- the index of the approvals its caller opened in its engagement (id scored by expires).
-- ARGV: now, prefix, retention, max pending (0: no bound), the new approval's id, its expires, max
-- pending per caller (0: no bound), then the new approval's fields and values.
-- Returns {'approved'|'pending'|'denied'|'created', field, value, ...} (the approval as it now
-- stands), {'taken'} when the new id names a kept approval, {'too_many', pending} or
-- {'too_many_caller', the caller's pending}.
local binding, key, all, pending, mine = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local retention, maxPending = tonumber(ARGV[3]), tonumber(ARGV[4])
local id, expires, maxMine = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])

local function answer(verdict, k)
  local r = redis.call('HGETALL', k)
  table.insert(r, 1, verdict)
  return r
end

local bound = redis.call('HGET', binding, 'id')
if bound then
  local k = prefix .. 'ap:' .. bound
  local c = redis.call('HMGET', k, 'status', 'expires')
  local status, exp = c[1], tonumber(c[2])
  if status and exp and now <= exp + retention then
    if status == 'approved' and now <= exp then
      redis.call('HSET', k, 'status', 'used')
      return answer('approved', k)
    elseif status == 'pending' and now <= exp then
      return answer('pending', k)
    elseif status == 'denied' then
      redis.call('DEL', binding)
      return answer('denied', k)
    end
  end
end

local old = redis.call('HMGET', key, 'status', 'expires')
if old[1] and tonumber(old[2]) and now <= tonumber(old[2]) + retention then
  return {'taken'}
end
redis.call('ZREMRANGEBYSCORE', pending, '-inf', '(' .. NOW)
if maxPending > 0 then
  local n = redis.call('ZCARD', pending)
  if n >= maxPending then return {'too_many', tostring(n)} end
end
if maxMine > 0 then
  -- At most maxMine entries stay in this index, so counting it reads at most that many approvals.
  redis.call('ZREMRANGEBYSCORE', mine, '-inf', '(' .. NOW)
  local n = 0
  for _, other in ipairs(redis.call('ZRANGE', mine, 0, -1)) do
    if redis.call('HGET', prefix .. 'ap:' .. other, 'status') == 'pending' then
      n = n + 1
    else
      redis.call('ZREM', mine, other)
    end
  end
  if n >= maxMine then return {'too_many_caller', tostring(n)} end
end

local gone = expires + retention
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 8))
ttl(key, gone)
redis.call('HSET', binding, 'id', id)
ttl(binding, gone)
index(all, id, gone)
index(pending, id, expires)
index(mine, id, expires)
return answer('created', key)
