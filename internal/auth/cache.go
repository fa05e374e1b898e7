package auth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers verification outcomes by the SHA-256 of the token, least recently used
// evicted first. It never holds a token: a memory dump of the gateway yields hashes, which cannot be
// replayed. A success is kept until the token expires; a failure only for the failure TTL.
type tokenCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // of *cacheEntry, most recently used at the front
	m   map[[sha256.Size]byte]*list.Element
}

type cacheEntry struct {
	key   [sha256.Size]byte
	id    *Identity // set for a success
	err   *Error    // set for a failure
	until time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, ll: list.New(), m: make(map[[sha256.Size]byte]*list.Element)}
}

// get returns the outcome cached for key, if it is still good at now.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*Identity, *Error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.ll.Remove(el)
		delete(c.m, key)
		return nil, nil, false
	}
	c.ll.MoveToFront(el)
	return e.id, e.err, true
}

// put records an outcome good until until, evicting the least recently used entry when full.
func (c *tokenCache) put(key [sha256.Size]byte, id *Identity, err *Error, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		e := el.Value.(*cacheEntry)
		e.id, e.err, e.until = id, err, until
		c.ll.MoveToFront(el)
		return
	}
	for c.ll.Len() >= c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*cacheEntry).key)
	}
	c.m[key] = c.ll.PushFront(&cacheEntry{key: key, id: id, err: err, until: until})
}

// len is the number of entries, for tests.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
