package streamable

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// tenantBackend records the engagement and problem of every request it is handed.
type tenantBackend struct {
	fakeBackend
	mu   sync.Mutex
	seen []string // "method tenant|problem"
}

func (b *tenantBackend) Request(ctx context.Context, ex *Exchange, ans Answer) {
	b.mu.Lock()
	b.seen = append(b.seen, ex.Msg.Method+" "+ex.Tenant+"|"+ex.TenantProblem)
	b.mu.Unlock()
	b.fakeBackend.Request(ctx, ex, ans)
}

// pathOrToken is a resolver: the path's engagement, else the token's, and they must agree.
type pathOrToken struct{}

func (pathOrToken) Resolve(_ *http.Request, token, path string) (string, string) {
	switch {
	case path != "" && token != "" && path != token:
		return "", "disagree"
	case path != "":
		return path, ""
	case token != "":
		return token, ""
	}
	return "", "none"
}

func TestSessionsAreBoundToTheirEngagement(t *testing.T) {
	b := &tenantBackend{}
	h := New(Config{Auth: whoAuth{}, Tenancy: pathOrToken{}, Loopback: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, b)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	mux.Handle("/e/{engagement}/mcp", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); h.Close() })

	resp, _ := do(t, srv.URL+"/e/acme/mcp", reqSpec{body: legacyInit})
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	do(t, srv.URL+"/e/acme/mcp", reqSpec{body: call, headers: map[string]string{"Mcp-Session-Id": sid}})
	do(t, srv.URL+"/e/globex/mcp", reqSpec{body: call, headers: map[string]string{"Mcp-Session-Id": sid}})
	do(t, srv.URL+"/mcp", reqSpec{body: call, headers: map[string]string{"Mcp-Session-Id": sid, "X-Tenant": "acme"}})
	do(t, srv.URL+"/e/acme/mcp", reqSpec{body: call, headers: map[string]string{"Mcp-Session-Id": sid, "X-Tenant": "globex"}})
	want := []string{
		"initialize acme|",
		"tools/list acme|",
		"tools/list globex|the session was opened for another engagement",
		"tools/list acme|",
		"tools/list |disagree",
	}
	if got := strings.Join(b.seen, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("backend saw\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}

	note := `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`
	if resp, body := do(t, srv.URL+"/e/globex/mcp", reqSpec{body: note, headers: map[string]string{"Mcp-Session-Id": sid}}); resp.StatusCode != 403 || !strings.Contains(body, "cross_tenant") {
		t.Errorf("cross-tenant notification: %d %s", resp.StatusCode, body)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		resp, body := do(t, srv.URL+"/e/globex/mcp", reqSpec{method: m, headers: map[string]string{"Mcp-Session-Id": sid, "Accept": "text/event-stream"}})
		if resp.StatusCode != 403 || !strings.Contains(body, "cross_tenant") || strings.Contains(body, "acme") {
			t.Errorf("cross-tenant %s: %d %s", m, resp.StatusCode, body)
		}
	}
	if h.Sessions().get(sid) == nil {
		t.Error("a cross-tenant DELETE ended the session")
	}
}
