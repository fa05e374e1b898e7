package adminui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Only the page's own files, and the redirects to it, are public, and only to GET and HEAD.
func TestPublic(t *testing.T) {
	for _, c := range []struct {
		method, path string
		public       bool
	}{
		{"GET", "/admin/ui/", true},
		{"HEAD", "/admin/ui/", true},
		{"GET", "/admin/ui/app.js", true},
		{"GET", "/admin/ui/app.css", true},
		{"GET", "/admin", true},
		{"GET", "/admin/", true},
		{"GET", "/admin/ui", true},
		{"POST", "/admin/ui/", false},
		{"GET", "/admin/ui/index.html", false},
		{"GET", "/admin/ui/../v1/approvals", false},
		{"GET", "/admin/ui/app.js/x", false},
		{"GET", "/admin/v1/approvals", false},
		{"GET", "/metrics", false},
	} {
		r := httptest.NewRequest(c.method, "http://127.0.0.1:9090/", nil)
		r.URL.Path = c.path
		if got := Public(r); got != c.public {
			t.Errorf("%s %s: public %v, want %v", c.method, c.path, got, c.public)
		}
	}
}

// The page is served with its CSP, and has nothing that CSP would block: no inline script, style or
// event handler.
func TestPage(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/ui/", nil))
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Security-Policy") != CSP || !strings.Contains(body, `<script src="app.js" defer></script>`) {
		t.Fatalf("GET /admin/ui/: %d %q\n%.200s", rec.Code, rec.Header().Get("Content-Security-Policy"), body)
	}
	for _, inline := range []string{"<script>", "<style", "style=", "onclick", "onload", "javascript:"} {
		if strings.Contains(body, inline) {
			t.Errorf("the page has %q, which its CSP blocks", inline)
		}
	}
	for path, want := range map[string]string{"/admin": Path, "/admin/": Path, "/admin/ui": Path} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != want {
			t.Errorf("GET %s: %d to %q", path, rec.Code, rec.Header().Get("Location"))
		}
	}
}
