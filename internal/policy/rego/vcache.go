package rego

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// flatCache is OPA's virtual document cache (the values of rules already evaluated in this query)
// as a short list searched in order, reused from one evaluation to the next. A decision caches a
// handful of rule values; OPA's own cache is a trie of hash maps built afresh for every evaluation,
// which costs more to allocate than the searches it saves. Entries match a reference exactly, as
// OPA's do.
type flatCache struct {
	frames [][]cacheEntry
}

type cacheEntry struct {
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

var _ topdown.VirtualCache = (*flatCache)(nil)

var flatCaches = sync.Pool{New: func() any { return &flatCache{frames: make([][]cacheEntry, 1, 4)} }}

// getCache returns an empty cache with one frame.
func getCache() *flatCache { return flatCaches.Get().(*flatCache) }

// release empties c and returns it to the pool. The values it held stay with whoever holds them.
func (c *flatCache) release() {
	for i := range c.frames {
		clear(c.frames[i])
		c.frames[i] = c.frames[i][:0]
	}
	c.frames = c.frames[:1]
	flatCaches.Put(c)
}

// Push implements topdown.VirtualCache.
func (c *flatCache) Push() {
	if len(c.frames) < cap(c.frames) {
		c.frames = c.frames[:len(c.frames)+1]
		c.frames[len(c.frames)-1] = c.frames[len(c.frames)-1][:0]
		return
	}
	c.frames = append(c.frames, nil)
}

// Pop implements topdown.VirtualCache.
func (c *flatCache) Pop() {
	top := c.frames[len(c.frames)-1]
	clear(top)
	c.frames[len(c.frames)-1] = top[:0]
	c.frames = c.frames[:len(c.frames)-1]
}

func (c *flatCache) find(ref ast.Ref) *cacheEntry {
	top := c.frames[len(c.frames)-1]
	for i := range top {
		if top[i].ref.Equal(ref) {
			return &top[i]
		}
	}
	return nil
}

// Get implements topdown.VirtualCache: (value, false) cached, (nil, true) cached as undefined, (nil,
// false) not cached.
func (c *flatCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if e := c.find(ref); e != nil {
		return e.value, e.undefined
	}
	return nil, false
}

// Put implements topdown.VirtualCache. The reference is copied: OPA may reuse the slice it passes.
func (c *flatCache) Put(ref ast.Ref, value *ast.Term) {
	if e := c.find(ref); e != nil {
		e.value, e.undefined = value, value == nil
		return
	}
	top := len(c.frames) - 1
	c.frames[top] = append(c.frames[top], cacheEntry{ref: append(ast.Ref(nil), ref...), value: value, undefined: value == nil})
}

// Keys implements topdown.VirtualCache.
func (c *flatCache) Keys() []ast.Ref {
	var out []ast.Ref
	for _, e := range c.frames[len(c.frames)-1] {
		if e.value != nil {
			out = append(out, e.ref)
		}
	}
	return out
}
