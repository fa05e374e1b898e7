package gateway

import (
	"fmt"
	"testing"
)

func TestResourceOwnersAreBoundedPerUpstream(t *testing.T) {
	a, b := ownerEntry{up: &HTTPUpstream{UpstreamName: "a"}, rank: 0}, ownerEntry{up: &HTTPUpstream{UpstreamName: "b"}, rank: 1}
	o := newResourceOwners(3, 2)
	o.claim("crm://customers/42", a)
	for i := range 4 {
		o.claim(fmt.Sprintf("file:///%d", i), b)
	}
	if _, ok := o.lookup("file:///0"); ok {
		t.Error("b's oldest URI past its bound is still remembered")
	}
	if up, ok := o.lookup("crm://customers/42"); !ok || up != a.up {
		t.Errorf("a's URI after b listed past its bound: %v %v (one upstream must not push out another's)", up, ok)
	}
	o.claim("file:///1", b) // listed again: now the most recent
	o.claim("file:///4", b)
	if _, ok := o.lookup("file:///1"); !ok {
		t.Error("a URI listed again was forgotten before older ones")
	}
	if _, ok := o.lookup("file:///2"); ok {
		t.Error("the least recently listed URI was kept")
	}
	if len(o.uris) != 4 || o.byUp[b.up].Len() != 3 {
		t.Errorf("kept %d URIs, %d of b's; want 4 and 3", len(o.uris), o.byUp[b.up].Len())
	}

	o.claim("calc://{n}", b)
	o.claim("calc://result/{n}", b)
	o.claim("calc://other/{n}", b) // past b's templates' bound: not kept
	o.claim("db://{table}", a)     // a's own share
	if up, ok := o.lookup("calc://result/7"); !ok || up != b.up {
		t.Errorf("by template: %v %v", up, ok)
	}
	if up, _ := o.lookup("calc://other/1"); up != b.up || len(o.templates) != 3 {
		t.Errorf("templates kept: %d, want 3 (b's third refused, a's kept)", len(o.templates))
	}
	if up, ok := o.lookup("db://users"); !ok || up != a.up {
		t.Errorf("a's template: %v %v", up, ok)
	}

	// A clash: the first in configuration order owns the URI, whichever listed it first, and the
	// clash is reported once.
	if _, _, clash := o.claim("file:///4", a); !clash {
		t.Error("the clash was not reported")
	}
	if up, _ := o.lookup("file:///4"); up != a.up {
		t.Errorf("owner after the clash: %v, want the first in configuration order", up)
	}
	if _, _, clash := o.claim("file:///4", b); clash {
		t.Error("the clash was reported twice")
	}
	if up, _ := o.lookup("file:///4"); up != a.up || o.byUp[b.up].Len() != 2 || o.byUp[a.up].Len() != 2 {
		t.Errorf("owner after a later claim: %v; lists a %d b %d", up, o.byUp[a.up].Len(), o.byUp[b.up].Len())
	}
}
