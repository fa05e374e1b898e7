package tenancy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzResolve: whatever a request carries, the resolver names a valid engagement or a problem, never
// both, and never an engagement from an untrusted peer's header.
func FuzzResolve(f *testing.F) {
	f.Add("acme", "acme", "", "192.0.2.1:5")
	f.Add("", "../x", "acme", "10.0.0.1:5")
	f.Add("a\x00", "", "", "[::1]:1")
	rv := &Resolver{Sources: []Source{SourceToken, SourcePath, SourceHeader}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, token, path, header, remote string) {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.RemoteAddr = remote
		if header != "" {
			r.Header.Set(DefaultHeader, header)
		}
		got, problem := rv.Resolve(r, token, path)
		if (got == "") == (problem == "") {
			t.Fatalf("Resolve = %q, %q: want exactly one", got, problem)
		}
		if got != "" && ValidID(got) != nil {
			t.Fatalf("resolved an invalid id %q", got)
		}
		ap, err := netip.ParseAddrPort(remote)
		fromProxy := err == nil && netip.MustParsePrefix("10.0.0.0/8").Contains(ap.Addr().Unmap())
		if got != "" && header != "" && !fromProxy {
			t.Fatalf("resolved %q with a header from untrusted %q", got, remote)
		}
	})
}

// FuzzAdminBody: no body makes the admin API panic or store an invalid allowlist.
func FuzzAdminBody(f *testing.F) {
	f.Add("PUT", `{"tools":["fs.read"]}`)
	f.Add("PATCH", `{"add":["a*"],"remove":["fs.read"]}`)
	f.Add("PUT", `{"tools":["a","a"]}`)
	lists, _ := Open("", nil, nil)
	a := &Admin{Lists: lists, Logger: slog.New(slog.DiscardHandler), Record: func(context.Context, Change) error { return nil }}
	mux := http.NewServeMux()
	a.Register(mux)
	f.Fuzz(func(t *testing.T, method, body string) {
		if method != "PUT" && method != "PATCH" {
			method = "PUT"
		}
		r := httptest.NewRequest(method, "/admin/v1/engagements/acme/allowlist", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if err := ValidTools(lists.Get("acme").Tools); err != nil {
			t.Fatalf("stored an invalid list: %v", err)
		}
	})
}
