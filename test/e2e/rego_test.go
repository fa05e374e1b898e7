package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// regoLog is a process's output (gatehouse's stderr, mostly), safe to read while the
// process writes it.
type regoLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *regoLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *regoLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the JSON log lines whose msg is msg.
func (l *regoLog) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// regoRun is one `gatehouse run` in front of the test peer, driven by the Go SDK client.
type regoRun struct {
	session *mcp.ClientSession
	cmd     *exec.Cmd
	log     *regoLog
	audit   string
}

// startRego runs gatehouse with args in front of the test peer. env is the whole environment
// gatehouse sees beyond PATH and HOME: the seed variables are never inherited from the test's own.
func startRego(t *testing.T, env []string, args ...string) *regoRun {
	t.Helper()
	r := &regoRun{log: &regoLog{}, audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	full := append([]string{"run", "--audit", r.audit}, args...)
	r.cmd = exec.Command(gatehouseBin, append(append(full, "--"), testpeer.Binary(t))...)
	r.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	r.cmd.Stderr = r.log
	client := mcp.NewClient(&mcp.Implementation{Name: "gatehouse-e2e", Version: "1.0.0"}, nil)
	s, err := client.Connect(ctx, &mcp.CommandTransport{Command: r.cmd}, nil)
	if err != nil {
		t.Fatalf("connect through gatehouse: %v\nstderr:\n%s", err, r.log.String())
	}
	r.session = s
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("gatehouse stderr:\n%s", r.log.String())
		}
	})
	return r
}

// starterCopy copies the starter policies to a directory the test may change.
func starterCopy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, "policies"))); err != nil {
		t.Fatal(err)
	}
	return dir
}

var enforcing = []string{"EXPERIMENTAL_POLICY_ENGINE=true"}

// TestRegoStoryRoleDenied is the seed's first story: role dev calling database.backup is denied with
// reason policy_deny, and the audit record says blocked by rego: role_mismatch.
func TestRegoStoryRoleDenied(t *testing.T) {
	r := startRego(t, enforcing, "--policy-bundle", starterCopy(t), "--roles", "dev", "--agent", "dev-bot")
	code, reason := refusal(t, r.session, "database.backup", map[string]any{"target": "s3://backups"})
	if code != -32001 || reason != "policy_deny" {
		t.Errorf("database.backup as dev: code %d reason %q, want -32001 policy_deny", code, reason)
	}
	tools, err := r.session.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		if tool.Name == "database.backup" || tool.Name == "admin.drop" {
			t.Errorf("tools/list shows %s to a dev, who may not call it", tool.Name)
		}
	}
	if got := callText(t, r.session, "echo", map[string]any{"message": "hi"}); got != "Echo: hi" {
		t.Errorf("echo = %q: the starter policy should allow it", got)
	}
	r.session.Close()
	var found bool
	for _, rec := range readAudit(t, r.audit) {
		if rec.Tool == "database.backup" {
			found = true
			if rec.Reason != "blocked by rego: role_mismatch" || rec.Engine != "rego" || rec.Effect != "deny" || rec.Code != "policy_deny" || rec.BundleRev == "" {
				t.Errorf("audit record: reason %q engine %q effect %q code %q bundle revision %q; want blocked by rego: role_mismatch",
					rec.Reason, rec.Engine, rec.Effect, rec.Code, rec.BundleRev)
			}
			if rec.Mode != "rego=enforce" {
				t.Errorf("audit mode = %q, want rego=enforce", rec.Mode)
			}
		}
	}
	if !found {
		t.Error("no audit record for database.backup")
	}
	starting := r.log.lines("gatehouse run starting")
	if len(starting) != 1 || starting[0]["engines"] != "rego=enforce" || starting[0]["bundle_revision"] == "none" {
		t.Errorf("start-up line does not show the effective engines and bundle: %v", starting)
	}
}

// TestRegoStoryValidationFailed is the second story: temp.convert below absolute zero is refused with
// reason validation_failed, and an argument in bounds is not.
func TestRegoStoryValidationFailed(t *testing.T) {
	r := startRego(t, enforcing, "--policy-bundle", starterCopy(t), "--roles", "dev")
	code, reason := refusal(t, r.session, "temp.convert", map[string]any{"temp": -500})
	if reason != "validation_failed" || code != -32002 {
		t.Errorf("temp.convert -500: code %d reason %q, want -32002 validation_failed", code, reason)
	}
	if got := callText(t, r.session, "temp.convert", map[string]any{"temp": 21.5}); got != "called temp.convert" {
		t.Errorf("temp.convert 21.5 = %q, want it forwarded", got)
	}
}

// TestRegoStoryANSIStripped is the third story: a tool result "\u001B[31mALERT\u001B[0m" reaches the
// client as ALERT, rewritten by the policy's post hook.
func TestRegoStoryANSIStripped(t *testing.T) {
	r := startRego(t, enforcing, "--policy-bundle", starterCopy(t), "--roles", "dev")
	if got := callText(t, r.session, "ansi", nil); got != "ALERT" {
		t.Errorf("ansi = %q, want ALERT", got)
	}
	r.session.Close()
	for _, rec := range readAudit(t, r.audit) {
		if rec.Tool == "ansi" {
			if rec.ResponseEffect != "patch" || strings.Contains(rec.ResultPreview, "\u001b") {
				t.Errorf("audit: response effect %q, result %q; want a patch and no escape", rec.ResponseEffect, rec.ResultPreview)
			}
		}
	}
}

// TestRegoStoryHotReload is the fourth story, under load: while calls flow on several goroutines, the
// bundle is replaced on disk and gatehouse gets SIGHUP. No call fails, and the first call after the
// reload is decided by the new policy.
func TestRegoStoryHotReload(t *testing.T) {
	dir := starterCopy(t)
	r := startRego(t, enforcing, "--policy-bundle", dir, "--roles", "dev")
	if got := callText(t, r.session, "echo", map[string]any{"message": "before"}); got != "Echo: before" {
		t.Fatalf("echo before the reload = %q", got)
	}

	var calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// temp.convert in bounds is allowed by the old policy and the new one.
				res, err := r.session.CallTool(context.Background(), &mcp.CallToolParams{Name: "temp.convert", Arguments: map[string]any{"temp": i*100 + n%50}})
				calls.Add(1)
				if err != nil || res.IsError {
					failed.Add(1)
					t.Logf("call failed during the reload: %v", err)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)

	// The new policy: echo now needs the admin role. Replaced as a deployment would: a new file
	// renamed over the old one.
	roles := filepath.Join(dir, "gatehouse", "roles.rego")
	old, err := os.ReadFile(roles)
	if err != nil {
		t.Fatal(err)
	}
	updated := strings.Replace(string(old), `"database.backup": {"admin"},`, `"database.backup": {"admin"},`+"\n\t\"echo\": {\"admin\"},", 1)
	if updated == string(old) {
		t.Fatal("could not edit roles.rego")
	}
	os.WriteFile(roles+".new", []byte(updated), 0o644)
	os.Rename(roles+".new", roles)
	loadedBefore := len(r.log.lines("policy bundle loaded"))
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(r.log.lines("policy bundle loaded")) == loadedBefore {
		if time.Now().After(deadline) {
			t.Fatal("no reload logged after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The next request is decided by the new policy.
	if _, reason := refusal(t, r.session, "echo", map[string]any{"message": "after"}); reason != "policy_deny" {
		t.Errorf("echo after the reload: reason %q, want policy_deny from the new policy", reason)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || calls.Load() < 20 {
		t.Errorf("%d of %d calls failed while the bundle was replaced (want 0 of at least 20)", failed.Load(), calls.Load())
	}
	loaded := r.log.lines("policy bundle loaded")
	if a, b := loaded[0]["revision"], loaded[len(loaded)-1]["revision"]; a == b {
		t.Errorf("the revision did not change across the reload: %v", a)
	}

	// A broken bundle is refused and the policy in force stays.
	os.WriteFile(roles, []byte("package gatehouse.roles\n\nrefusal := [\n"), 0o644)
	r.cmd.Process.Signal(syscall.SIGHUP)
	for len(r.log.lines("policy bundle refused; keeping the bundle in force")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no refusal logged for a broken bundle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, reason := refusal(t, r.session, "echo", map[string]any{"message": "still"}); reason != "policy_deny" {
		t.Errorf("after a refused reload: reason %q, want the policy in force to still deny", reason)
	}
	if got := callText(t, r.session, "temp.convert", map[string]any{"temp": 1}); got != "called temp.convert" {
		t.Errorf("after a refused reload, temp.convert = %q", got)
	}
}

// TestRegoStoryMonitorByDefault is the fifth story: with EXPERIMENTAL_POLICY_ENGINE unset the Rego
// engine only observes: the violating call is allowed and would_deny is logged at WARN.
func TestRegoStoryMonitorByDefault(t *testing.T) {
	r := startRego(t, nil, "--policy-bundle", starterCopy(t), "--roles", "dev")
	if got := callText(t, r.session, "database.backup", nil); got != "called database.backup" {
		t.Errorf("database.backup in monitor mode = %q, want it forwarded", got)
	}
	r.session.Close()
	r.cmd.Wait()
	would := r.log.lines("would_deny")
	if len(would) != 1 || would[0]["level"] != "WARN" || would[0]["target"] != "database.backup" || would[0]["reason"] != "role_mismatch" {
		t.Errorf("would_deny log lines: %v, want one at WARN for database.backup, reason role_mismatch", would)
	}
	if s := r.log.lines("gatehouse run starting"); len(s) != 1 || s[0]["engines"] != "rego=monitor" {
		t.Errorf("start-up line: %v, want engines rego=monitor", s)
	}
	for _, rec := range readAudit(t, r.audit) {
		if rec.Tool == "database.backup" && (rec.Effect != "allow" || rec.WouldEffect != "deny" || rec.Reason != "role_mismatch") {
			t.Errorf("audit: effect %q would %q reason %q; want allow, would deny, role_mismatch", rec.Effect, rec.WouldEffect, rec.Reason)
		}
	}
}

// TestRegoMissingBundle: with the engine on and no bundle, gatehouse starts; the Rego engine fails
// open with an ERROR for each call, unless fail is closed (SPEC §5.7).
func TestRegoMissingBundle(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-deployed-yet")
	r := startRego(t, append([]string{"POLICY_BUNDLE_PATH=" + missing}, enforcing...), "--roles", "dev")
	if got := callText(t, r.session, "database.backup", nil); got != "called database.backup" {
		t.Errorf("with no bundle and no fail posture: %q, want the call let through", got)
	}
	if len(r.log.lines("no policy bundle loaded; failing open")) == 0 {
		t.Error("no ERROR logged for a call decided without a bundle")
	}

	// fail closed: nothing is let through without a policy, not even the handshake.
	cmd := exec.Command(gatehouseBin, "run", "--audit", filepath.Join(t.TempDir(), "a.jsonl"), "--fail", "closed", "--", testpeer.Binary(t))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "POLICY_BUNDLE_PATH=" + missing}, enforcing...)
	cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}` + "\n")
	var stderr regoLog
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gatehouse run: %v\n%s", err, stderr.String())
	}
	var answer struct {
		Error struct {
			Data struct {
				Reason string `json:"reason"`
			} `json:"data"`
		} `json:"error"`
	}
	json.Unmarshal(bytes.TrimSpace(out), &answer)
	if answer.Error.Data.Reason != "policy_error" {
		t.Errorf("with fail closed and no bundle: %s, want a refusal with reason policy_error", out)
	}
	if s := stderr.lines("gatehouse run starting"); len(s) != 1 || s[0]["rego_fail"] != "closed" {
		t.Errorf("start-up line: %v, want rego_fail closed", s)
	}
}

// TestRegoAndRulesTogether runs both engines: the rules decide first, Rego second, and the stronger
// verdict wins.
func TestRegoAndRulesTogether(t *testing.T) {
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte(`name: allow-all
version: "1"
rules:
  - {id: everything, methods: [initialize, ping, tools/list, tools/call], effect: allow}
`), 0o644)
	r := startRego(t, enforcing, "--policy", rulesFile, "--policy-bundle", starterCopy(t), "--roles", "dev")
	if _, reason := refusal(t, r.session, "database.backup", nil); reason != "policy_deny" {
		t.Errorf("rules allow, Rego denies: reason %q, want policy_deny", reason)
	}
	if got := callText(t, r.session, "echo", map[string]any{"message": "both"}); got != "Echo: both" {
		t.Errorf("both allow: %q", got)
	}
	r.session.Close()
	if s := r.log.lines("gatehouse run starting"); len(s) != 1 || s[0]["engines"] != "rules=enforce,rego=enforce" {
		t.Errorf("start-up line: %v", s)
	}
}
