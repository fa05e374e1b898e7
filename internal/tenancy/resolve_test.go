package tenancy

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	all := &Resolver{Sources: []Source{SourceToken, SourcePath, SourceHeader}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tokenOnly := &Resolver{Sources: []Source{SourceToken}}
	withDefault := &Resolver{Sources: []Source{SourceToken, SourcePath}, Default: "shared"}
	cases := []struct {
		name        string
		rv          *Resolver
		remote      string
		header      []string
		token, path string
		want        string
		problem     string // substring; "" means no problem
	}{
		{"token", all, "192.0.2.1:1", nil, "acme", "", "acme", ""},
		{"path", all, "192.0.2.1:1", nil, "", "acme", "acme", ""},
		{"token and path agree", all, "192.0.2.1:1", nil, "acme", "acme", "acme", ""},
		{"token and path disagree", all, "192.0.2.1:1", nil, "acme", "globex", "", `token names engagement "acme" but the path names "globex"`},
		{"trusted header", all, "10.1.2.3:9", []string{"acme"}, "", "", "acme", ""},
		{"trusted header disagrees with token", all, "10.1.2.3:9", []string{"globex"}, "acme", "", "", "disagree"},
		{"untrusted header", all, "192.0.2.1:1", []string{"acme"}, "", "", "", "only from trusted proxies"},
		{"untrusted header even when it agrees", all, "192.0.2.1:1", []string{"acme"}, "acme", "", "", "only from trusted proxies"},
		{"header twice", all, "10.1.2.3:9", []string{"acme", "acme"}, "", "", "", "appears 2 times"},
		{"header not enabled", tokenOnly, "10.1.2.3:9", []string{"acme"}, "acme", "", "", "not accepted"},
		{"path not enabled", tokenOnly, "192.0.2.1:1", nil, "acme", "acme", "", "not enabled"},
		{"invalid path id", all, "192.0.2.1:1", nil, "", "..", "", "not valid"},
		{"invalid token id", all, "192.0.2.1:1", nil, "a/b", "", "", "not valid"},
		{"nothing, no default", all, "192.0.2.1:1", nil, "", "", "", "names no engagement"},
		{"nothing, default", withDefault, "192.0.2.1:1", nil, "", "", "shared", ""},
		{"token ignored when not a source", &Resolver{Sources: []Source{SourcePath}, Default: "d"}, "192.0.2.1:1", nil, "acme", "", "d", ""},
		{"ipv4-mapped trusted proxy", all, "[::ffff:10.0.0.1]:9", []string{"acme"}, "", "", "acme", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp", nil)
			r.RemoteAddr = c.remote
			for _, h := range c.header {
				r.Header.Add(DefaultHeader, h)
			}
			got, problem := c.rv.Resolve(r, c.token, c.path)
			if c.problem == "" {
				if problem != "" || got != c.want {
					t.Fatalf("Resolve = %q, %q; want %q", got, problem, c.want)
				}
				return
			}
			if c.problem == "disagree" {
				c.problem = "but the header names"
			}
			if got != "" || !strings.Contains(problem, c.problem) {
				t.Fatalf("Resolve = %q, %q; want a problem containing %q", got, problem, c.problem)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"acme", "a", "Acme-1.prod_2", strings.Repeat("a", 64)} {
		if err := ValidID(ok); err != nil {
			t.Errorf("ValidID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "a/b", `a\b`, "a b", "a\x00", strings.Repeat("a", 65), "é"} {
		if ValidID(bad) == nil {
			t.Errorf("ValidID(%q) accepted", bad)
		}
	}
}
