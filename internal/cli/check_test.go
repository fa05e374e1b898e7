package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckServeConfigReportsEverything runs check on a serve configuration with many problems — unknown
// keys, bad values, files that are not there, an auth key file that cannot be read — and expects
// every one of them, each at its line, in one run.
func TestCheckServeConfigReportsEverything(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := `listen: 127.0.0.1:8080
colour: blue
http:
  deny_as: shrug
policy:
  rules: missing-rules.yaml
  bundle: missing-bundle
tls:
  cert: cert.pem
  key: key.pem
upstreams:
  - name: a
    url: ftp://x
    timeout_ms: 5
auth:
  resource:
    uri: https://mcp.example.com/mcp
  jwt:
    issuer: https://idp.example.com
    keys:
      - file: missing-key.pem
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := gatehouse(t, "", "check", "--config", cfg)
	if code != ExitProblem {
		t.Errorf("exit %d, want %d", code, ExitProblem)
	}
	want := []string{
		cfg + ":2: field colour not found",
		cfg + ":4: http.deny_as: must be error or tool_error",
		cfg + ":6: policy.rules: " + filepath.Join(dir, "missing-rules.yaml") + " does not exist",
		cfg + ":7: policy.bundle: " + filepath.Join(dir, "missing-bundle") + " does not exist",
		cfg + ":9: tls.cert: " + filepath.Join(dir, "cert.pem") + " does not exist",
		cfg + ":10: tls.key: " + filepath.Join(dir, "key.pem") + " does not exist",
		cfg + `:12: upstreams[0]: (a): url "ftp://x" is not an http(s) URL`,
		cfg + ":14: field timeout_ms not found",
		cfg + ":20: auth.jwt.keys: key 1: open " + filepath.Join(dir, "missing-key.pem"),
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("check does not report %q:\n%s", w, out)
		}
	}
	// Each problem once, in line order; the missing rules file and bundle are not read again.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, cfg+":") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("got %d located problems, want %d:\n%s", len(lines), len(want), out)
	}
	for i := range min(len(lines), len(want)) {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("problem %d is %q, want %q (line order)", i+1, lines[i], want[i])
		}
	}
	if strings.Contains(out, "no such file") && !strings.Contains(out, "missing-key.pem: no such file") {
		t.Errorf("a bare file error is reported:\n%s", out)
	}
	if !strings.Contains(out, "9 error(s)") {
		t.Errorf("summary: want 9 errors:\n%s", out)
	}

	// The JSON form carries the same problems with their lines.
	_, out, _ = gatehouse(t, "", "check", "--config", cfg, "--format", "json")
	var report struct {
		Problems []struct {
			File    string
			Line    int
			Message string
		}
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	lineOf := map[string]int{}
	for _, p := range report.Problems {
		if p.File == cfg {
			lineOf[p.Message] = p.Line
		}
	}
	if len(lineOf) != len(want) {
		t.Errorf("json: %d problems of the file, want %d: %s", len(lineOf), len(want), out)
	}
	for msg, line := range lineOf {
		if line == 0 {
			t.Errorf("json: problem %q has no line", msg)
		}
	}
}
