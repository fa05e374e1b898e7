package gateway

import (
	"strings"
	"sync"
)

// Bounds of what is remembered for routing resources: an upstream lists as many as it likes, page
// after page. Past maxOwnedURIs the oldest URI is forgotten; past maxOwnedTemplates new templates are
// not remembered (each read of an unlisted URI is matched against every template).
const (
	maxOwnedURIs      = 100_000
	maxOwnedTemplates = 1_000
)

// ownerEntry is the upstream that owns a resource URI or URI template, and its place in the
// configuration.
type ownerEntry struct {
	up   Upstream
	rank int
}

// resourceOwners remembers which upstream listed which resource URIs and URI templates (a '{' in the
// key). URIs are kept up to maxURIs, the oldest forgotten first; templates up to maxTemplates, later
// ones not kept. A URI not remembered is routed as one never listed: by template, else to the
// unprefixed upstream.
type resourceOwners struct {
	mu        sync.RWMutex
	uris      map[string]ownerEntry
	order     []string // uris, oldest first
	templates map[string]ownerEntry
	clashes   map[string]bool // keys two upstreams listed, each warned about once
	maxURIs   int
	maxTempl  int
}

func newResourceOwners(maxURIs, maxTemplates int) *resourceOwners {
	return &resourceOwners{uris: map[string]ownerEntry{}, templates: map[string]ownerEntry{}, clashes: map[string]bool{},
		maxURIs: maxURIs, maxTempl: maxTemplates}
}

// lookup finds the owner of uri: the upstream that listed it, else the one with the template
// matching it with the longest literal prefix (the first in configuration order among equals).
func (o *resourceOwners) lookup(uri string) (Upstream, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if e, ok := o.uris[uri]; ok {
		return e.up, true
	}
	var best ownerEntry
	bestLen := -1
	for key, e := range o.templates {
		if i := strings.IndexByte(key, '{'); strings.HasPrefix(uri, key[:i]) && (i > bestLen || (i == bestLen && e.rank < best.rank)) {
			best, bestLen = e, i
		}
	}
	return best.up, best.up != nil
}

// claim records that e's upstream lists key. When two upstreams list the same one, the first in
// configuration order owns it, whichever answered first (routing must not depend on timing); it
// returns the two when this is the first time they clash over key, for the caller to warn.
func (o *resourceOwners) claim(key string, e ownerEntry) (first, other ownerEntry, clash bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	template := strings.IndexByte(key, '{') >= 0
	m := o.uris
	if template {
		m = o.templates
	}
	p, ok := m[key]
	switch {
	case !ok && template:
		if len(m) < o.maxTempl {
			m[key] = e
		}
		return
	case !ok:
		m[key] = e
		o.order = append(o.order, key)
		o.evictLocked()
		return
	case p.up == e.up:
		return
	}
	first, other = p, e
	if e.rank < p.rank {
		first, other = e, p
		m[key] = e
	}
	if o.clashes[key] {
		return
	}
	o.clashes[key] = true
	return first, other, true
}

// evictLocked forgets the oldest URIs past maxURIs. The caller holds o.mu.
func (o *resourceOwners) evictLocked() {
	for len(o.uris) > o.maxURIs {
		oldest := o.order[0]
		o.order = o.order[1:]
		delete(o.uris, oldest)
		delete(o.clashes, oldest)
	}
}
