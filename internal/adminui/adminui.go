// Package adminui serves the admin web page (SPEC §10.3): static files, embedded in the binary, from
// which an operator lists approvals and approves or denies them through the admin API.
//
// The files hold nothing secret, so they are served without the admin token (a browser cannot send
// a bearer token when it navigates); the page asks the operator for the token and sends it with
// every API request. The page's Content-Security-Policy lets it run only its own script, load only
// its own style and talk only to its own origin.
package adminui

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed ui
var files embed.FS

// Path is where the page is served; /admin and /admin/ui redirect to it.
const Path = "/admin/ui/"

// CSP is the page's Content-Security-Policy: no inline script or style, nothing from elsewhere, no
// framing, no form posted anywhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pages are the files under Path, by name ("" for the page itself).
var pages = map[string]struct{ file, contentType string }{
	"":        {"ui/index.html", "text/html; charset=utf-8"},
	"app.js":  {"ui/app.js", "text/javascript; charset=utf-8"},
	"app.css": {"ui/app.css", "text/css; charset=utf-8"},
}

// redirects lead to the page.
var redirects = []string{"/admin", "/admin/", "/admin/ui"}

// Public says whether r asks for one of the page's files or a redirect to it, which are served
// without the admin token.
func Public(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if name, ok := strings.CutPrefix(r.URL.Path, Path); ok {
		_, ok = pages[name]
		return ok
	}
	for _, p := range redirects {
		if r.URL.Path == p {
			return true
		}
	}
	return false
}

// Register adds the page's routes to mux.
func Register(mux *http.ServeMux) {
	for name, p := range pages {
		data, err := files.ReadFile(p.file)
		if err != nil {
			panic("adminui: " + err.Error()) // embedded at build time
		}
		pattern := "GET " + Path + name
		if name == "" {
			pattern += "{$}"
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", p.contentType)
			w.Header().Set("Content-Security-Policy", CSP)
			w.Write(data)
		})
	}
	for _, p := range redirects {
		if strings.HasSuffix(p, "/") {
			p += "{$}"
		}
		mux.Handle("GET "+p, http.RedirectHandler(Path, http.StatusFound))
	}
}
