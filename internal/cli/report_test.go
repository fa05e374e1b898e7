package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/report"
)

// writeAuditLog writes a small signed, closed audit log and returns its path and the public key file.
func writeAuditLog(t *testing.T) (logPath, pubPath string) {
	t.Helper()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "audit")
	if err := auditlog.WriteKeyPair(prefix+".key", prefix+".pub"); err != nil {
		t.Fatal(err)
	}
	key, err := auditlog.ReadPrivateKeyFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, "audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: logPath, SigningKey: key, CheckpointEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*auditlog.Record{
		{DecisionID: "d1", Agent: "refund-bot", Tenant: "acme", Method: "tools/call", Tool: "refund", Effect: "allow", RuleID: "refund-small", Engine: "rules", Status: "answered"},
		{DecisionID: "d2", Agent: "refund-bot", Tenant: "acme", Method: "tools/call", Tool: "refund", Effect: "deny", Code: "policy_deny", RuleID: "refund-large", Engine: "rules", Status: "refused"},
		{DecisionID: "d3", Agent: "refund-bot", Tenant: "acme", Method: "tools/call", Tool: "refund", Effect: "require_approval", Code: "approval_required", ApprovalID: "apr_1", Engine: "rules", Status: "refused"},
	} {
		if err := w.Submit(r).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return logPath, prefix + ".pub"
}

func TestReportWritesMarkdownAndHTML(t *testing.T) {
	logPath, pub := writeAuditLog(t)
	dir := t.TempDir()
	tests := []struct {
		name, out string
		extra     []string
		prefix    string
	}{
		{"markdown by extension", "r.md", nil, "# Gatehouse compliance evidence report\n"},
		{"html by extension", "r.html", nil, "<!DOCTYPE html>\n"},
		{"html by flag", "report.txt", []string{"--format", "html"}, "<!DOCTYPE html>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.out)
			args := append([]string{"report", "--audit", logPath, "--pubkey", pub, "--out", out}, tt.extra...)
			code, stdout, stderr := gatehouse(t, "", args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stdout, "3 decision(s), 1 agent(s), chain intact") {
				t.Errorf("stdout = %q", stdout)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), tt.prefix) || !strings.Contains(string(data), "refund-bot") ||
				!strings.Contains(string(data), "verified with key") {
				t.Errorf("report %s:\n%.400s", out, data)
			}
		})
	}
	// To stdout, the report is all there is.
	code, stdout, _ := gatehouse(t, "", "report", "--audit", logPath)
	if code != ExitOK || !strings.HasPrefix(stdout, "# Gatehouse compliance evidence report\n") || strings.Contains(stdout, "wrote ") {
		t.Errorf("report to stdout: exit %d\n%.300s", code, stdout)
	}
	// The command writes what the package renders.
	r, err := report.Build(report.Options{Files: []string{logPath}})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	r.Markdown(&want)
	if stdout != want.String() {
		t.Error("gatehouse report differs from report.Markdown of the same log")
	}
}

func TestReportOfATamperedLog(t *testing.T) {
	logPath, pub := writeAuditLog(t)
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(data, []byte(`"effect":"deny"`), []byte(`"effect":"allow"`), 1)
	if err := os.WriteFile(logPath, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "r.md")
	code, stdout, stderr := gatehouse(t, "", "report", "--audit", logPath, "--pubkey", pub, "--out", out)
	if code != ExitProblem {
		t.Errorf("exit %d, want %d", code, ExitProblem)
	}
	if !strings.Contains(stderr, "NOT INTACT") || !strings.Contains(stderr, "hash mismatch") || !strings.Contains(stdout, "chain NOT INTACT") {
		t.Errorf("stdout %q\nstderr %q", stdout, stderr)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the report of a tampered log was not written: %v", err)
	}
	if !strings.HasPrefix(string(md), "# Gatehouse compliance evidence report: AUDIT CHAIN NOT INTACT\n\n> **AUDIT CHAIN NOT INTACT") {
		t.Errorf("the report does not say NOT INTACT at the top:\n%.300s", md)
	}

	// A key other than the signer's is a problem too: the checkpoints are not its signatures.
	other := filepath.Join(t.TempDir(), "other")
	if err := auditlog.WriteKeyPair(other+".key", other+".pub"); err != nil {
		t.Fatal(err)
	}
	intact, _ := writeAuditLog(t)
	if code, _, stderr := gatehouse(t, "", "report", "--audit", intact, "--pubkey", other+".pub"); code != ExitProblem || !strings.Contains(stderr, "NOT INTACT") {
		t.Errorf("report with the wrong key: exit %d %s", code, stderr)
	}
}

func TestReportUsageErrors(t *testing.T) {
	logPath, _ := writeAuditLog(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no files", []string{"report"}, "--audit FILE"},
		{"bad format", []string{"report", "--audit", logPath, "--format", "pdf"}, "md or html"},
		{"missing file", []string{"report", "--audit", filepath.Join(t.TempDir(), "none.jsonl")}, "no such file"},
		{"bad key", []string{"report", "--audit", logPath, "--pubkey", logPath}, "public key"},
		{"unwritable output", []string{"report", "--audit", logPath, "--out", filepath.Join(t.TempDir(), "no", "dir", "r.md")}, "write the report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := gatehouse(t, "", tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
}

func TestControls(t *testing.T) {
	for _, tt := range []struct {
		format string
		write  func(*bytes.Buffer) error
	}{
		{"text", func(b *bytes.Buffer) error { return report.WriteControlsText(b) }},
		{"json", func(b *bytes.Buffer) error { return report.WriteControlsJSON(b) }},
		{"md", func(b *bytes.Buffer) error { return report.WriteControlsMarkdown(b) }},
	} {
		t.Run(tt.format, func(t *testing.T) {
			code, out, stderr := gatehouse(t, "", "controls", "--format", tt.format)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var want bytes.Buffer
			if err := tt.write(&want); err != nil {
				t.Fatal(err)
			}
			if out != want.String() {
				t.Errorf("controls --format %s differs from the report package's rendering", tt.format)
			}
			for _, s := range []string{"agent-identity", "ASI03", "MANAGE 2.4"} {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q", s)
				}
			}
		})
	}
	if code, out, _ := gatehouse(t, "", "controls"); code != ExitOK || !strings.HasPrefix(out, "Gatehouse controls\n") {
		t.Errorf("default format: exit %d %.60q", code, out)
	}
	if code, _, stderr := gatehouse(t, "", "controls", "--format", "yaml"); code != ExitUsage || !strings.Contains(stderr, "text, json or md") {
		t.Errorf("bad format: exit %d %s", code, stderr)
	}
}
