package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repo returns a path inside the repository.
func repo(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", ".."}, parts...)...)
}

// gatehouse runs the CLI in-process.
func gatehouse(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, streams{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	code, out, _ := gatehouse(t, "", "check", "--policy", repo("examples", "policies", "refunds.yaml"))
	if code != ExitOK || !strings.Contains(out, "ok: 1 policy file(s) valid") {
		t.Errorf("valid policy: exit %d\n%s", code, out)
	}
	bad := writeFile(t, "bad.yaml", "name: x\nversion: \"1\"\ndefault_effect: deny\nrules:\n  - id: a\n    effect: allow\n    tools: [\"[\"]\n  - id: a\n    effect: frobnicate\n")
	code, out, _ = gatehouse(t, "", "check", "--policy", bad)
	if code != ExitProblem {
		t.Errorf("invalid policy: exit %d, want %d", code, ExitProblem)
	}
	for _, want := range []string{bad + ":7: a: ", bad + ":8: a: ", bad + ":9: a: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks a problem located at %q:\n%s", want, out)
		}
	}
	code, out, _ = gatehouse(t, "", "check", "--format", "json", bad)
	if code != ExitProblem || !strings.Contains(out, `"severity": "error"`) || !strings.Contains(out, `"line": 7`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if code, _, errOut := gatehouse(t, "", "check"); code != ExitUsage || !strings.Contains(errOut, "nothing to check") {
		t.Errorf("no input: exit %d %s", code, errOut)
	}
	cfg := writeFile(t, "g.yaml", "mode: loud\npolicy:\n  rules: "+repo("examples", "policies", "refunds.yaml")+"\n")
	code, out, _ = gatehouse(t, "", "check", "--config", cfg)
	if code != ExitProblem || !strings.Contains(out, cfg+":1: mode: must be one of") {
		t.Errorf("bad config: exit %d\n%s", code, out)
	}
	// A configuration that names no policy, checked with one, as run --config --policy starts with it.
	bare := writeFile(t, "bare.yaml", "limits:\n  max_tokens: 5000\n")
	refunds := repo("examples", "policies", "refunds.yaml")
	if code, out, _ := gatehouse(t, "", "check", "--config", bare, "--policy", refunds); code != ExitOK || !strings.Contains(out, "1 policy file(s) valid") {
		t.Errorf("config without a policy, --policy given: exit %d\n%s", code, out)
	}
	if code, out, _ := gatehouse(t, "", "check", "--config", bare); code != ExitProblem || !strings.Contains(out, "no policy to enforce") {
		t.Errorf("config without a policy, none given: exit %d\n%s", code, out)
	}
}

func TestEval(t *testing.T) {
	refunds := repo("examples", "policies", "refunds.yaml")
	small := writeFile(t, "small.json", `{"kind":"tools/call","tool":{"name":"refund","args":{"amount":120}}}`)
	code, out, _ := gatehouse(t, "", "eval", "--policy", refunds, "--input", small, "--expect", "allow")
	if code != ExitOK || !strings.Contains(out, "decision:  allow") || !strings.Contains(out, "rule:      refund-small") ||
		!strings.Contains(out, `budget:    claims 120 of "refund-small"`) {
		t.Errorf("small refund: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "YES  refund-small") || !strings.Contains(out, "no   handshake-and-lists") {
		t.Errorf("trace does not explain the rules tried:\n%s", out)
	}
	frame := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"amount":900}}}`
	code, out, errOut := gatehouse(t, frame, "eval", "--policy", refunds, "--input", "-", "--expect", "allow")
	if code != ExitProblem || !strings.Contains(out, "decision:  deny (policy_deny)") || !strings.Contains(errOut, "expected allow, got deny") {
		t.Errorf("large refund with --expect allow: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = gatehouse(t, frame, "eval", "--policy", refunds, "--input", "-", "--format", "json")
	if code != ExitOK || !strings.Contains(out, `"effect": "deny"`) || !strings.Contains(out, `"trace"`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	badInput := writeFile(t, "bad.json", `{"kind":"tools/call","tol":{}}`)
	if code, _, errOut := gatehouse(t, "", "eval", "--policy", refunds, "--input", badInput); code != ExitUsage || !strings.Contains(errOut, "unknown field") {
		t.Errorf("misspelt input field: exit %d %s", code, errOut)
	}
}

func TestKeygenAndVersion(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "audit")
	code, out, _ := gatehouse(t, "", "keygen", "--out", prefix)
	if code != ExitOK || !strings.Contains(out, "key id") {
		t.Fatalf("keygen: exit %d %s", code, out)
	}
	st, err := os.Stat(prefix + ".key")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if code, _, errOut := gatehouse(t, "", "keygen", "--out", prefix); code != ExitProblem || !strings.Contains(errOut, "exist") {
		t.Errorf("keygen over existing keys: exit %d %s", code, errOut)
	}
	if code, out, _ := gatehouse(t, "", "version"); code != ExitOK || !strings.HasPrefix(out, "gatehouse ") {
		t.Errorf("version: exit %d %q", code, out)
	}
}

func TestRunUsageErrors(t *testing.T) {
	if code, _, errOut := gatehouse(t, "", "run"); code != ExitUsage || !strings.Contains(errOut, "needs the server command") {
		t.Errorf("run without a command: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouse(t, "", "run", "--", "true"); code != ExitUsage || !strings.Contains(errOut, "no policy to enforce") {
		t.Errorf("run without a policy: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouse(t, "", "run", "--mode", "loud", "--policy", "x.yaml", "--", "true"); code != ExitUsage || !strings.Contains(errOut, `mode: must be one of`) {
		t.Errorf("bad mode: exit %d %s", code, errOut)
	}
	bad := writeFile(t, "bad.yaml", "rules: 7\n")
	if code, _, errOut := gatehouse(t, "", "run", "--policy", bad, "--audit", filepath.Join(t.TempDir(), "a.jsonl"), "--", "true"); code != ExitUsage || !strings.Contains(errOut, "does not load") {
		t.Errorf("broken policy: exit %d %s", code, errOut)
	}
	dir := t.TempDir()
	code, _, errOut := gatehouse(t, "", "run", "--mode", "off", "--audit", filepath.Join(dir, "a.jsonl"), "--", filepath.Join(dir, "no-such-server"))
	if code != ExitRuntime || !strings.Contains(errOut, "no-such-server") {
		t.Errorf("missing server binary: exit %d %s", code, errOut)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range newRoot(streams{}).Commands() {
		if cmd.Short == "" || cmd.Long == "" && cmd.Name() != "version" {
			t.Errorf("%s lacks help text", cmd.Name())
		}
		code, out, _ := gatehouse(t, "", cmd.Name(), "--help")
		if code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d", cmd.Name(), code)
		}
	}
}
