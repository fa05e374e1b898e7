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
