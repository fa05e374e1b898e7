package cli

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/auditsink"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// gatehouse serve exports every line of its audit log, once on disk, to a signed webhook with the
// receiver's credential and to standard output: both get exactly the file, which verifies as a
// chain; the banner moves to standard error; the secrets appear in no log line.
func TestServeExportsTheAuditLog(t *testing.T) {
	t.Setenv("GH_TEST_SIEM_AUTH", "Splunk t0k3n-in-env")
	t.Setenv("GH_TEST_SIEM_KEY", "hmac-k3y-in-env")
	var mu sync.Mutex
	var received bytes.Buffer
	var problems []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		ts := r.Header.Get(webhook.HeaderTimestamp)
		switch {
		case r.Header.Get("Authorization") != "Splunk t0k3n-in-env":
			problems = append(problems, "Authorization "+r.Header.Get("Authorization"))
		case r.Header.Get(webhook.HeaderSignature) != "sha256="+webhook.Sign([]byte("hmac-k3y-in-env"), ts, body):
			problems = append(problems, "a bad signature")
		case r.Header.Get("Content-Type") != auditsink.ContentType || r.Header.Get(webhook.HeaderEvent) != auditsink.Event:
			problems = append(problems, "Content-Type "+r.Header.Get("Content-Type")+", event "+r.Header.Get(webhook.HeaderEvent))
		}
		received.Write(body)
	}))
	defer srv.Close()
	sinks := "  path: %[3]s/audit.jsonl\n  sinks:\n" +
		"    - {type: webhook, name: siem, url: " + srv.URL + "/in, auth_header: Authorization, auth_env: GH_TEST_SIEM_AUTH, secret_env: GH_TEST_SIEM_KEY, flush_interval: 50ms}\n" +
		"    - {type: stdout}\n"
	stdout := &lockedBuffer{}
	s := startServeTo(t, stdout, strings.Replace(serveBase, "  path: %[3]s/audit.jsonl\n", sinks, 1))
	os.MkdirAll(filepath.Join(s.dir, "data", "default"), 0o755)
	for range 3 {
		if resp, body := modernCall(t, "http://"+s.mcp+"/mcp", "fs.list", map[string]any{"path": "."}); resp.StatusCode != 200 {
			t.Fatalf("fs.list: %d %s", resp.StatusCode, body)
		}
	}
	waitUntil(t, "the webhook to receive the calls' records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Count(received.Bytes(), []byte(`"method":"tools/call"`)) == 3
	})
	_, metrics := do(t, http.MethodGet, "http://"+s.admin+"/metrics", "", nil)
	if !strings.Contains(metrics, `gatehouse_audit_sink_sent_lines_total{sink="siem"}`) || !strings.Contains(metrics, `gatehouse_audit_sink_dropped_lines_total{sink="stdout"} 0`) {
		t.Errorf("the sinks' metrics are missing:\n%s", grepLines(metrics, "audit_sink"))
	}
	s.stop() // the closing checkpoint goes out too

	file, err := os.ReadFile(filepath.Join(s.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(received.Bytes(), file) {
		t.Errorf("the webhook received:\n%s\nthe file holds:\n%s", received.Bytes(), file)
	}
	if stdout.String() != string(file) {
		t.Errorf("standard output:\n%s\nthe file holds:\n%s", stdout, file)
	}
	if len(problems) > 0 {
		t.Errorf("deliveries the receiver would refuse: %q", problems)
	}
	copyPath := filepath.Join(t.TempDir(), "received.jsonl")
	os.WriteFile(copyPath, received.Bytes(), 0o600)
	if rep, err := auditlog.Verify([]string{copyPath}, auditlog.VerifyOptions{}); err != nil || rep.Decisions < 3 {
		t.Errorf("what the SIEM received does not verify: %v %+v", err, rep)
	}
	logs := s.logs.String()
	if strings.Contains(logs, "t0k3n-in-env") || strings.Contains(logs, "hmac-k3y-in-env") {
		t.Errorf("a secret is in the log:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"audit log exported","sink":"siem"`) {
		t.Errorf("start-up does not say the log is exported:\n%s", logs)
	}
}

// A webhook sink whose credential is missing stops start-up with a clear message.
func TestServeRefusesASinkWithoutItsCredential(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	body := strings.Replace(serveBase, "  path: %[3]s/audit.jsonl\n", "  path: %[3]s/audit.jsonl\n  sinks:\n"+
		"    - {type: webhook, url: https://siem.example/in, auth_header: Authorization, auth_env: GH_TEST_UNSET_SIEM_AUTH}\n", 1)
	os.WriteFile(path, []byte(strings.NewReplacer("%[1]s", freeAddr(t), "%[2]s", freeAddr(t), "%[3]s", dir).Replace(body)), 0o600)
	logs := &lockedBuffer{}
	err := runServe(t.Context(), &serveParams{configFile: path}, streams{out: io.Discard, err: logs})
	if err == nil || !strings.Contains(err.Error(), "audit.sinks[0].auth_env: $GH_TEST_UNSET_SIEM_AUTH is not set") {
		t.Errorf("err %v, want the unset credential named", err)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for range 500 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A credential a header cannot carry is refused at start-up, not retried for ever.
func TestSinkCredentialMustFitAHeader(t *testing.T) {
	for _, v := range []string{"Bearer a\x01b", "Bearer a\rX-Injected: 1", "tok\x7f"} {
		t.Setenv("GH_TEST_SINK_AUTH", v)
		_, err := newAuditSinks([]config.SinkConfig{{Type: "webhook", URL: "https://siem.example/in", AuthHeader: "Authorization", AuthEnv: "GH_TEST_SINK_AUTH"}},
			io.Discard, io.Discard, os.Getenv, nil, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "a character a header cannot carry") || strings.Contains(err.Error(), v) {
			t.Errorf("%q: %v, want a refusal that does not repeat the value", v, err)
		}
	}
}
