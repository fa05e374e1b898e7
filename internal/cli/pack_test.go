package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackGenerateAndCheck(t *testing.T) {
	manifest := repo("examples", "workflow-pack", "workflow-manifests.json")
	published, err := os.ReadFile(repo("examples", "workflow-pack", "mcp-gateway-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pack.json")
	ref := []string{"--manifest", manifest, "--out", out, "--manifest-path", "data/control-plane/workflow-manifests.json"}

	code, stdout, stderr := gatehouse(t, "", append([]string{"pack", "generate", "--check"}, ref...)...)
	if code != ExitProblem || !strings.Contains(stderr, "is missing") {
		t.Errorf("--check without a pack: exit %d, %s", code, stderr)
	}
	code, stdout, stderr = gatehouse(t, "", append([]string{"pack", "generate"}, ref...)...)
	if code != ExitOK || !strings.Contains(stdout, "8 workflow(s)") {
		t.Fatalf("generate: exit %d, %s%s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != string(published) {
		t.Error("the generated pack is not the published one")
	}
	if code, stdout, stderr = gatehouse(t, "", append([]string{"pack", "generate", "--check"}, ref...)...); code != ExitOK || !strings.Contains(stdout, "is current") {
		t.Errorf("--check of the current pack: exit %d, %s%s", code, stdout, stderr)
	}
	// A pack edited by hand, or a manifest changed without regenerating, has drifted.
	edited := strings.Replace(string(published), `"max_diff_lines": 250`, `"max_diff_lines": 9999`, 1)
	if err := os.WriteFile(out, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = gatehouse(t, "", append([]string{"pack", "generate", "--check"}, ref...)...)
	if code != ExitProblem || !strings.Contains(stderr, "has drifted") || !strings.Contains(stderr, "line ") {
		t.Errorf("--check of an edited pack: exit %d, %s", code, stderr)
	}
	// A checkout with CRLF line endings has not drifted (Python reads text with them undone).
	if err := os.WriteFile(out, []byte(strings.ReplaceAll(string(published), "\n", "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr = gatehouse(t, "", append([]string{"pack", "generate", "--check"}, ref...)...); code != ExitOK {
		t.Errorf("--check of a CRLF copy: exit %d, %s", code, stderr)
	}
	// Without --manifest-path the pack records --manifest as pathlib writes it.
	code, _, _ = gatehouse(t, "", "pack", "generate", "--manifest", filepath.Dir(manifest)+"//./"+filepath.Base(manifest), "--out", out)
	if got, _ := os.ReadFile(out); code != ExitOK || !strings.Contains(string(got), `"path": "`+filepath.ToSlash(manifest)+`"`) {
		t.Errorf("exit %d; the manifest path is not recorded as pathlib writes it", code)
	}
	bad := writeFile(t, "m.json", `{"required_gate_phases": [], "workflows": [{"id": "w"}]}`)
	if code, _, stderr = gatehouse(t, "", "pack", "generate", "--manifest", bad, "--out", out); code != ExitProblem || !strings.Contains(stderr, "w: owner must be an object") {
		t.Errorf("a bad manifest: exit %d, %s", code, stderr)
	}
}

func TestPackEval(t *testing.T) {
	pk := repo("examples", "workflow-pack", "mcp-gateway-policy.json")
	hold := `{"workflow_id":"artifact-cache-quarantine","agent_id":"sr-agent::artifact-cache-quarantine::codex","run_id":"ci-hold","tool_namespace":"registries.quarantine","tool_access_mode":"approval_required","gate_phase":"tool_call"}`
	code, stdout, stderr := gatehouse(t, hold, "pack", "eval", "--pack", pk, "--request", "-", "--expect-decision", "hold_for_approval")
	if code != ExitOK || !strings.HasPrefix(stdout, "{\n  \"allowed\": false,\n  \"approval_present\": false,\n  \"approval_required\": true,\n  \"decision\": \"hold_for_approval\",") {
		t.Errorf("exit %d:\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = gatehouse(t, hold, "pack", "eval", "--pack", pk, "--request", "-", "--expect-decision", "allow")
	if code != ExitProblem || !strings.Contains(stderr, `expected decision "allow", got "hold_for_approval"`) {
		t.Errorf("a wrong expectation: exit %d, %s", code, stderr)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{`{"workflow_id":"x","diff_line_count":"many"}`, nil, ExitProblem, "cannot be decided"},
		{`[1]`, nil, ExitUsage, "must hold a JSON object"},
		{`{"a":1,"a":2}`, nil, ExitUsage, "not valid JSON"},
		{`{}`, []string{"--expect-decision", "maybe"}, ExitUsage, "is not one of"},
		{`{}`, []string{"--pack", writeFile(t, "p.json", `{"workflow_policies": {}}`)}, ExitProblem, "workflow_policies: must be a list"},
	} {
		args := append([]string{"pack", "eval", "--pack", pk, "--request", "-"}, c.args...)
		if code, _, stderr := gatehouse(t, c.stdin, args...); code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %v: exit %d, %s", c.stdin, c.args, code, stderr)
		}
	}
}

func TestPosixPathIsPathlibs(t *testing.T) {
	// PurePosixPath(p).as_posix(), from Python 3.11.7.
	for in, want := range map[string]string{"./data//control-plane/m.json": "data/control-plane/m.json", "//a/./b/": "//a/b",
		"///a": "/a", "a/../b": "a/../b", ".": ".", "": ".", "/": "/", "a/b/": "a/b"} {
		if got := posixPath(in); got != want {
			t.Errorf("posixPath(%q) = %q, pathlib says %q", in, got, want)
		}
	}
}
