-- Keys: how many counters and cells are kept (those not yet gone). KEYS: the index of all keys.
return redis.call('ZCOUNT', KEYS[1], '(' .. NOW, '+inf')
