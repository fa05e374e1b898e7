package gateway

import (
	"fmt"
	"testing"
)

func TestResourceOwnersAreBounded(t *testing.T) {
	a, b := ownerEntry{up: &HTTPUpstream{UpstreamName: "a"}, rank: 0}, ownerEntry{up: &HTTPUpstream{UpstreamName: "b"}, rank: 1}
	o := newResourceOwners(3, 2)
	for i := range 4 {
		o.claim(fmt.Sprintf("file:///%d", i), b)
	}
	if _, ok := o.lookup("file:///0"); ok {
		t.Error("the oldest URI past the bound is still remembered")
	}
	if up, ok := o.lookup("file:///3"); !ok || up != b.up {
		t.Errorf("the newest URI: %v %v", up, ok)
	}
	if len(o.uris) != 3 || len(o.order) != 3 {
		t.Errorf("kept %d URIs, %d in order; want 3", len(o.uris), len(o.order))
	}

	o.claim("calc://{n}", b)
	o.claim("calc://result/{n}", b)
	o.claim("db://{table}", a) // past the templates' bound: not kept
	if up, ok := o.lookup("calc://result/7"); !ok || up != b.up {
		t.Errorf("by template: %v %v", up, ok)
	}
	if _, ok := o.lookup("db://users"); ok {
		t.Error("a template past the bound was kept")
	}

	// A clash: the first in configuration order owns the URI, whichever listed it first, and the
	// clash is reported once.
	if _, _, clash := o.claim("file:///3", a); !clash {
		t.Error("the clash was not reported")
	}
	if up, _ := o.lookup("file:///3"); up != a.up {
		t.Errorf("owner after the clash: %v, want the first in configuration order", up)
	}
	if _, _, clash := o.claim("file:///3", b); clash {
		t.Error("the clash was reported twice")
	}
	if up, _ := o.lookup("file:///3"); up != a.up {
		t.Errorf("owner after a later claim: %v", up)
	}
}
