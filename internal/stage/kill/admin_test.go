package kill

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

func TestAdmin(t *testing.T) {
	store := state.NewMemory(nil)
	var recorded []Change
	auditDown := false
	a := &Admin{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Record: func(_ context.Context, c Change) error {
		if auditDown {
			return errors.New("disk full")
		}
		recorded = append(recorded, c)
		return nil
	}}
	mux := http.NewServeMux()
	a.Register(mux)
	do := func(method, path, body string) int {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w.Code
	}
	killed := func(scope string) string {
		_, reason, _ := store.Killed(context.Background(), scope)
		return reason
	}

	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/admin/v1/kills", `{"scope":"agent:a","reason":"looping"}`, 200},
		{"POST", "/admin/v1/kills", `{"scope":"agent:a"}`, 400},
		{"POST", "/admin/v1/kills", `{"scope":"agent:a","reason":"x","extra":1}`, 400},
		{"POST", "/admin/v1/kills", `{"scope":"user:a","reason":"x"}`, 400},
		{"POST", "/admin/v1/kills", `{"scope":"run:","reason":"x"}`, 400},
		{"POST", "/admin/v1/kills", `{"scope":"run:` + strings.Repeat("r", 600) + `","reason":"x"}`, 400},
		{"POST", "/admin/v1/kills", `{"scope":"agent:spiffe://example.org/agent?x","reason":"x"}`, 200},
		{"POST", "/admin/v1/kills/lift", `{"scope":"tenant:t"}`, 404},
		{"POST", "/admin/v1/kills/lift", `{}`, 400},
		{"GET", "/admin/v1/kills", "", 200},
	} {
		if got := do(tt.method, tt.path, tt.body); got != tt.want {
			t.Errorf("%s %s %s: %d, want %d", tt.method, tt.path, tt.body, got, tt.want)
		}
	}
	if killed("agent:a") != "looping" || killed("agent:spiffe://example.org/agent?x") != "x" {
		t.Errorf("kills: %q %q", killed("agent:a"), killed("agent:spiffe://example.org/agent?x"))
	}
	if len(recorded) != 2 || recorded[0] != (Change{Action: "kill", Scope: "agent:a", Reason: "looping", By: "admin", ClientIP: "192.0.2.1:1234"}) {
		t.Errorf("recorded: %+v", recorded)
	}

	// A change that cannot be audited is undone.
	auditDown = true
	if got := do("POST", "/admin/v1/kills", `{"scope":"agent:a","reason":"changed"}`); got != 503 || killed("agent:a") != "looping" {
		t.Errorf("an unaudited re-kill: %d, reason now %q", got, killed("agent:a"))
	}
	if got := do("POST", "/admin/v1/kills", `{"scope":"all","reason":"incident"}`); got != 503 || killed("all") != "" {
		t.Errorf("an unaudited kill: %d, all killed %q", got, killed("all"))
	}
	if got := do("POST", "/admin/v1/kills/lift", `{"scope":"agent:a"}`); got != 503 || killed("agent:a") != "looping" {
		t.Errorf("an unaudited lift: %d, reason now %q", got, killed("agent:a"))
	}
	// An undo takes back only its own change: a kill made while the audit write was failing stays.
	a.Record = func(ctx context.Context, c Change) error {
		store.Kill(ctx, "tenant:t", "rule tripwire")
		return errors.New("disk full")
	}
	if got := do("POST", "/admin/v1/kills", `{"scope":"tenant:t","reason":"operator"}`); got != 503 || killed("tenant:t") != "rule tripwire" {
		t.Errorf("a kill replaced while being audited: %d, reason now %q, want the rule's", got, killed("tenant:t"))
	}
	a.Record = func(context.Context, Change) error { return nil }
	auditDown = false
	if got := do("POST", "/admin/v1/kills/lift", `{"scope":"agent:a"}`); got != 200 || killed("agent:a") != "" {
		t.Errorf("lift: %d, still %q", got, killed("agent:a"))
	}
}
