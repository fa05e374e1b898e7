package gateway

import (
	"net/http"
	"testing"
)

// TestServeUpstreamStates checks what /readyz shows of HTTP upstreams: how the last exchange went,
// its error, and whether the upstream counts as usable.
func TestServeUpstreamStates(t *testing.T) {
	h := newServeHarness(t, ServeOptions{})
	byName := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, st := range h.backend.UpstreamStates() {
			out[st["name"].(string)] = st
		}
		return out
	}
	for name, st := range byName() {
		if st["kind"] != "http" || st["state"] != "unknown" || st["usable"] != true {
			t.Errorf("%s before any request: %v, want an http upstream in state unknown, usable", name, st)
		}
	}
	if status, body := post(t, h.url, "tools/call", map[string]any{"name": "files.echo", "arguments": map[string]any{"message": "hi"}}); status != http.StatusOK {
		t.Fatalf("call to files: %d %v", status, body)
	}
	h.calc.srv.Close()
	if status, _ := post(t, h.url, "tools/call", map[string]any{"name": "calc.add", "arguments": map[string]any{"a": 1, "b": 2}}); status != http.StatusBadGateway {
		t.Fatalf("call to the closed upstream: %d, want 502", status)
	}
	states := byName()
	if f := states["files"]; f["state"] != "ok" || f["usable"] != true || f["last_ok"] == nil || f["last_error"] != nil || f["era"] == "unknown" {
		t.Errorf("files after a good call: %v, want state ok, usable, its era learned, no error", f)
	}
	if c := states["calc"]; c["state"] != "failing" || c["usable"] != false || c["last_error"] == nil || c["last_error_at"] == nil {
		t.Errorf("calc after a failed call: %v, want state failing, not usable, with its last error", c)
	}
}
