package gateway

import (
	"container/list"
	"strings"
	"sync"
)

// Bounds of what is remembered, per upstream, for routing resources: an upstream lists as many as
// it likes, page after page. Past maxOwnedURIs the URI it listed least recently is forgotten; past
// maxOwnedTemplates its new templates are not remembered (each read of an unlisted URI is matched
// against every template). Each upstream has its own share, so one cannot push out another's.
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

// ownedURI is an element of an upstream's list of the URIs it owns.
type ownedURI struct {
	uri string
	e   ownerEntry
}

// resourceOwners remembers which upstream listed which resource URIs and URI templates (a '{' in the
// key), within bounds per upstream. A URI not remembered is routed as one never listed: by
// template, else to the unprefixed upstream.
type resourceOwners struct {
	mu        sync.RWMutex
	uris      map[string]*list.Element // of an ownedURI, in its owner's list in byUp
	byUp      map[Upstream]*list.List  // each upstream's URIs, least recently listed first
	templates map[string]ownerEntry
	templOf   map[Upstream]int // templates kept per upstream
	clashes   map[string]bool  // keys two upstreams listed, each warned about once
	maxURIs   int              // per upstream
	maxTempl  int              // per upstream
}

func newResourceOwners(maxURIs, maxTemplates int) *resourceOwners {
	return &resourceOwners{uris: map[string]*list.Element{}, byUp: map[Upstream]*list.List{}, templates: map[string]ownerEntry{},
		templOf: map[Upstream]int{}, clashes: map[string]bool{}, maxURIs: maxURIs, maxTempl: maxTemplates}
}

// lookup finds the owner of uri: the upstream that listed it, else the one with the template
// matching it with the longest literal prefix (the first in configuration order among equals).
func (o *resourceOwners) lookup(uri string) (Upstream, bool) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if el, ok := o.uris[uri]; ok {
		return el.Value.(*ownedURI).e.up, true
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
	var p ownerEntry
	if strings.IndexByte(key, '{') >= 0 {
		var ok bool
		if p, ok = o.templates[key]; !ok {
			if o.templOf[e.up] < o.maxTempl {
				o.templates[key] = e
				o.templOf[e.up]++
			}
			return
		}
		if p.up != e.up && e.rank < p.rank {
			o.templates[key] = e
			o.templOf[p.up]--
			o.templOf[e.up]++
		}
	} else {
		el, ok := o.uris[key]
		if !ok {
			o.keep(key, e)
			return
		}
		p = el.Value.(*ownedURI).e
		switch {
		case p.up == e.up:
			o.byUp[p.up].MoveToBack(el) // listed again: the last to be forgotten
		case e.rank < p.rank:
			o.byUp[p.up].Remove(el)
			o.keep(key, e)
		}
	}
	if p.up == e.up {
		return
	}
	first, other = p, e
	if e.rank < p.rank {
		first, other = e, p
	}
	if o.clashes[key] {
		return
	}
	o.clashes[key] = true
	return first, other, true
}

// keep records uri as e's, forgetting what e's upstream listed least recently past the bound. The
// caller holds o.mu.
func (o *resourceOwners) keep(uri string, e ownerEntry) {
	l := o.byUp[e.up]
	if l == nil {
		l = list.New()
		o.byUp[e.up] = l
	}
	o.uris[uri] = l.PushBack(&ownedURI{uri: uri, e: e})
	for l.Len() > o.maxURIs {
		oldest := l.Remove(l.Front()).(*ownedURI)
		delete(o.uris, oldest.uri)
		delete(o.clashes, oldest.uri)
	}
}
