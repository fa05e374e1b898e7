-- Approvals: every approval kept, each as {field, value, ...}, in no particular order.
-- KEYS: the index of approvals (id scored by when it is gone). ARGV: now, prefix.
local all = KEYS[1]
redis.call('ZREMRANGEBYSCORE', all, '-inf', '(' .. NOW)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', all, 0, -1)) do
  local h = redis.call('HGETALL', prefix .. 'ap:' .. id)
  if #h > 0 then
    table.insert(out, h)
  else
    redis.call('ZREM', all, id) -- Redis dropped it (evicted, or deleted by hand)
  end
end
return out
