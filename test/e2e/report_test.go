package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
)

// gatehouseCmd runs the binary and returns its exit code and output.
func gatehouseCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(gatehouseBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("gatehouse %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestReportOfARealRun drives the reference server through gatehouse with a signed audit log, then
// turns the log into Markdown and HTML reports with the binary and checks what they attest; then
// tampers with the log and checks the report says so and exits 1.
func TestReportOfARealRun(t *testing.T) {
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	if code, out, errOut := gatehouseCmd(t, "keygen", "--out", filepath.Join(dir, "k")); code != 0 {
		t.Fatalf("keygen: %s %s", out, errOut)
	}
	s, _ := connect(t, []string{"--policy", example("policies", "everything-demo.yaml"), "--audit", auditPath,
		"--audit-key", filepath.Join(dir, "k.key"), "--agent", "report-agent", "--roles", "support"},
		peer(t, "mcp-server-everything"), "stdio")
	if _, err := s.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	callText(t, s, "echo", map[string]any{"message": "hello"})
	callText(t, s, "echo", map[string]any{"message": "secret:hunter2"})
	refusal(t, s, "get-env", nil)
	s.Close()

	md, htmlOut := filepath.Join(dir, "report.md"), filepath.Join(dir, "report.html")
	for _, out := range []string{md, htmlOut} {
		code, stdout, stderr := gatehouseCmd(t, "report", "--audit", auditPath, "--pubkey", filepath.Join(dir, "k.pub"), "--out", out)
		if code != 0 || !strings.Contains(stdout, "chain intact") {
			t.Fatalf("report --out %s: exit %d\n%s%s", out, code, stdout, stderr)
		}
	}
	mdText, _ := os.ReadFile(md)
	pub, err := auditlog.ReadPublicKeyFile(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Hash chain | intact |",
		"verified with key " + auditlog.KeyID(pub),
		"| report-agent | support |",
		"| policy_deny | 1 |",
		"| echo | 2 |",
		"| redact | 1 |",
	} {
		if !strings.Contains(string(mdText), want) {
			t.Errorf("the Markdown report lacks %q", want)
		}
	}
	if strings.Contains(string(mdText), "hunter2") {
		t.Error("the redacted secret is in the report")
	}
	page, _ := os.ReadFile(htmlOut)
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	tables, scripts := 0, 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "table":
				tables++
			case "script", "link", "img", "iframe":
				scripts++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || tables < 10 || scripts != 0 {
		t.Errorf("HTML report: %d tables, %d external or script elements", tables, scripts)
	}

	// Tampered: the report is still written, says NOT INTACT first, and the exit status is 1.
	data, _ := os.ReadFile(auditPath)
	tampered := filepath.Join(dir, "tampered.jsonl")
	os.WriteFile(tampered, bytes.Replace(data, []byte(`"effect":"deny"`), []byte(`"effect":"allow"`), 1), 0o644)
	code, _, stderr := gatehouseCmd(t, "report", "--audit", tampered, "--out", filepath.Join(dir, "tampered.md"))
	got, _ := os.ReadFile(filepath.Join(dir, "tampered.md"))
	if code != 1 || !strings.Contains(stderr, "NOT INTACT") || !strings.HasPrefix(string(got), "# Gatehouse compliance evidence report: AUDIT CHAIN NOT INTACT") {
		t.Errorf("tampered log: exit %d, stderr %q, report starts %.80q", code, stderr, got)
	}
}

// TestTokenFromTheBinary issues tokens with the binary in both schemes and verifies them with the
// verifier gatehouse run uses, including the refusal of the other scheme.
func TestTokenFromTheBinary(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := gatehouseCmd(t, "keygen", "--out", filepath.Join(dir, "agents")); code != 0 {
		t.Fatal(errOut)
	}
	secret := filepath.Join(dir, "agent.secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _ := auditlog.ReadPublicKeyFile(filepath.Join(dir, "agents.pub"))
	ev, _ := agenttoken.NewEd25519Verifier(pub)
	sec, _ := agenttoken.ReadSecretFile(secret)
	hv, _ := agenttoken.NewHMACVerifier(sec)

	_, edTok, errOut := gatehouseCmd(t, "token", "--scheme", "ed25519", "--key", filepath.Join(dir, "agents.key"), "--agent-id", "e2e-bot", "--role", "ops")
	_, hmacTok, errOut2 := gatehouseCmd(t, "token", "--scheme", "hmac", "--secret-file", secret, "--agent-id", "e2e-bot", "--role", "ops")
	edTok, hmacTok = strings.TrimSpace(edTok), strings.TrimSpace(hmacTok)
	if edTok == "" || hmacTok == "" {
		t.Fatalf("no token printed: %s %s", errOut, errOut2)
	}
	now := time.Now()
	if c, err := ev.Verify(edTok, now); err != nil || c.AgentID != "e2e-bot" {
		t.Errorf("ed25519 token: %+v, %v", c, err)
	}
	if c, err := hv.Verify(hmacTok, now); err != nil || c.AgentID != "e2e-bot" {
		t.Errorf("hmac token: %+v, %v", c, err)
	}
	if _, err := ev.Verify(hmacTok, now); agenttoken.CodeOf(err) != agenttoken.CodeWrongScheme {
		t.Errorf("hmac token to the ed25519 verifier: %v, want token_wrong_scheme", err)
	}
	if _, err := hv.Verify(edTok, now); agenttoken.CodeOf(err) != agenttoken.CodeWrongScheme {
		t.Errorf("ed25519 token to the hmac verifier: %v, want token_wrong_scheme", err)
	}
}
