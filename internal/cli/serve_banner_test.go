package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
)

// The banner goes to stdout, unlike the redacted log: a credential in an upstream's URL or command
// (often from a ${NAME} reference) must not be printed.
func TestBannerRedactsUpstreams(t *testing.T) {
	cfg := &config.ServeConfig{Listen: "127.0.0.1:8080", Path: "/mcp", Upstreams: []config.UpstreamSpec{
		{Name: "w", URL: "https://svc:hunter2hunter2@weather.example/mcp"},
		{Name: "s", Command: []string{"server", "--api-key=AKIAIOSFODNN7EXAMPLE"}},
	}}
	var out bytes.Buffer
	printBanner(&out, "serve.yaml", cfg, "http://127.0.0.1:8080/mcp", &engines{})
	for _, secret := range []string{"hunter2hunter2", "AKIAIOSFODNN7EXAMPLE"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("the banner prints %s:\n%s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), "weather.example/mcp") || !strings.Contains(out.String(), "server --api-key=") {
		t.Errorf("the banner lost the upstreams:\n%s", out.String())
	}
}

// The banner names the admin web page, with the admin listener's scheme.
func TestBannerNamesTheAdminPage(t *testing.T) {
	for _, c := range []struct{ cert, want string }{{"", "http://127.0.0.1:9090/admin/"}, {"tls.crt", "https://127.0.0.1:9090/admin/"}} {
		cfg := &config.ServeConfig{Listen: "127.0.0.1:8080", Path: "/mcp", Admin: config.AdminConfig{Listen: "127.0.0.1:9090"}, TLS: config.TLSConfig{Cert: c.cert}}
		var out bytes.Buffer
		printBanner(&out, "serve.yaml", cfg, "http://127.0.0.1:8080/mcp", &engines{})
		if !strings.Contains(out.String(), "approvals     "+c.want+"  (the admin web page)") {
			t.Errorf("the banner does not name %s:\n%s", c.want, out.String())
		}
	}
}
