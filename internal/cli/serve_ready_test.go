package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
)

// TestReadyz checks that /readyz is 200 only when the gateway can serve, 503 with the reason when it
// cannot, and shows the Rego source's last load error.
func TestReadyz(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// regoWithoutBundle is a Rego engine enforcing a bundle that does not exist, under fail: closed
	// given explicitly (every call refused) or left to its default (fail open until a bundle loads).
	regoWithoutBundle := func(t *testing.T, failExplicit bool) *engines {
		cfg := config.Default()
		cfg.Fail, cfg.Policy.Bundle, cfg.Policy.RegoMode = "closed", filepath.Join(t.TempDir(), "missing.tar.gz"), "enforce"
		plan := cfg.ResolveRego(func(key string) bool { return key == "policy.rego_mode" || (key == "fail" && failExplicit) })
		eng, err := startEngines(context.Background(), cfg, plan, prometheus.NewRegistry(), logger)
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	stdio := func(ready bool) map[string]any {
		return map[string]any{"name": "peer", "kind": "stdio", "ready": ready, "usable": ready}
	}
	for _, tt := range []struct {
		name      string
		disabled  bool
		eng       func(t *testing.T) *engines
		upstreams []map[string]any
		wantReady bool
		// want are substrings of the body.
		want []string
	}{
		{name: "ready", upstreams: []map[string]any{stdio(true)}, wantReady: true},
		{name: "MCP disabled", disabled: true, upstreams: []map[string]any{stdio(true)},
			want: []string{"the MCP endpoint is disabled"}},
		{name: "no usable upstream", upstreams: []map[string]any{stdio(false), {"name": "web", "kind": "http", "state": "failing", "usable": false}},
			want: []string{"no upstream is usable"}},
		{name: "one usable upstream is enough", upstreams: []map[string]any{stdio(false), {"name": "web", "kind": "http", "state": "unknown", "usable": true}},
			wantReady: true},
		{name: "rego enforcing without a bundle under fail closed", eng: func(t *testing.T) *engines { return regoWithoutBundle(t, true) },
			upstreams: []map[string]any{stdio(true)},
			want:      []string{"the rego engine enforces under fail: closed and has no policy loaded", `"last_error": "`, "missing.tar.gz", `"loaded": false`}},
		{name: "rego failing open until a bundle loads", eng: func(t *testing.T) *engines { return regoWithoutBundle(t, false) },
			upstreams: []map[string]any{stdio(true)}, wantReady: true,
			want: []string{`"last_error": "`, "missing.tar.gz", "open until a bundle loads"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultServe()
			cfg.Fail = "closed"
			if tt.disabled {
				off := false
				cfg.Enabled = &off
			}
			eng := &engines{}
			if tt.eng != nil {
				eng = tt.eng(t)
			}
			rd := &readiness{cfg: cfg, eng: eng, sessions: func() int { return 0 }, requestPath: []string{"identity"},
				upstreams: func() []map[string]any { return tt.upstreams }}
			rec := httptest.NewRecorder()
			adminHandler(cfg, prometheus.NewRegistry(), rd.detail).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9090/readyz", nil))
			wantStatus := http.StatusOK
			if !tt.wantReady {
				wantStatus = http.StatusServiceUnavailable
			}
			if rec.Code != wantStatus {
				t.Errorf("status %d, want %d: %s", rec.Code, wantStatus, rec.Body)
			}
			var body struct {
				Ready     bool
				Problems  []string
				Upstreams []map[string]any
				Policy    map[string]any
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON: %v: %s", err, rec.Body)
			}
			if body.Ready != tt.wantReady || (len(body.Problems) == 0) != tt.wantReady || len(body.Upstreams) != len(tt.upstreams) || body.Policy == nil {
				t.Errorf("ready %v with problems %q, want ready %v: %s", body.Ready, body.Problems, tt.wantReady, rec.Body)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("the body does not say %q: %s", w, rec.Body)
				}
			}
		})
	}
}
