-- Shared by every script of the Redis store (internal/state/redis.go), prepended to each.
-- ARGV[1] is now in microseconds of the gateway's clock, ARGV[2] the store's key prefix. An index
-- is a sorted set of key names scored by when each is gone (microseconds; +inf: never).
local NOW = ARGV[1]
local now = tonumber(NOW)
local prefix = ARGV[2]
local SLACK = 60000 -- ms a key outlives the time it is gone, for gateway clocks that disagree

local function num(s)
  if s == 'inf' or s == '+inf' then return math.huge end
  return tonumber(s)
end

local function fmt(x)
  return string.format('%.17g', x)
end

-- ttl keeps name in Redis until a while after expiry (math.huge: for good). The store decides
-- whether a key is gone from the times in it; Redis's expiry only frees the memory.
local function ttl(name, expiry)
  if expiry == math.huge then
    redis.call('PERSIST', name)
  else
    redis.call('PEXPIRE', name, math.max(1, math.ceil((expiry - now) / 1000)) + SLACK)
  end
end

-- index scores member in z, drops the entries of keys that are gone, and keeps z as long as its
-- longest-lived member.
local function index(z, member, expiry)
  redis.call('ZREMRANGEBYSCORE', z, '-inf', '(' .. NOW)
  if expiry == math.huge then
    redis.call('ZADD', z, '+inf', member)
  else
    redis.call('ZADD', z, string.format('%.0f', expiry), member)
  end
  local top = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  ttl(z, num(top[2]))
end

-- room reports why key, new or to start again, made by owner does not fit ('full', 'caller_full'),
-- or nil. An entry of key left in the index (Redis expired or evicted the key) counts as none; a full
-- index first drops its entries for keys that are gone.
local function room(all, key, owner, maxKeys, maxOwn)
  redis.call('ZREM', all, key)
  local past = '(' .. NOW
  if redis.call('ZCARD', all) >= maxKeys then
    redis.call('ZREMRANGEBYSCORE', all, '-inf', past)
    if redis.call('ZCARD', all) >= maxKeys then return 'full' end
  end
  local own = prefix .. 'o:' .. owner
  if redis.call('ZCARD', own) >= maxOwn then
    redis.call('ZREMRANGEBYSCORE', own, '-inf', past)
    if redis.call('ZCARD', own) >= maxOwn then return 'caller_full' end
  end
  return nil
end

-- keep records key, gone at expiry, in the index of all keys, its owner's and its holder's. The
-- index of all keys is pruned only when full (room), as it is large; the others on every use, so
-- that a holder that lives for good (an agent) does not gather an entry per window it ever used.
local function keep(key, all, holder, owner, expiry)
  ttl(key, expiry)
  redis.call('ZADD', all, expiry == math.huge and '+inf' or string.format('%.0f', expiry), key) -- kept for good
  index(prefix .. 'o:' .. owner, key, expiry)
  index(holder, key, expiry)
end
