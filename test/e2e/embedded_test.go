package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeFirstCommand returns the first command of the README's first code block.
func readmeFirstCommand(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```sh\n")
	if !ok {
		t.Fatal("README.md has no sh code block")
	}
	line, _, _ := strings.Cut(rest, "\n")
	cmd, _, _ := strings.Cut(line, "#")
	return strings.TrimSpace(cmd)
}

// TestEmbeddedDefaultAsTheREADMESays starts `gatehouse serve` with no configuration, as the README's
// first command does, runs the command it prints, and calls fs.write, fs.list and fs.read through it
// with the official Go SDK client (SPEC §1.3).
func TestEmbeddedDefaultAsTheREADMESays(t *testing.T) {
	if got := readmeFirstCommand(t); got != "go run ./cmd/gatehouse serve" {
		t.Fatalf("the README's first command is %q; this test runs the embedded default (gatehouse serve, no config)", got)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to run the command gatehouse serve prints (.ci/run installs it)")
	}
	dir := t.TempDir()
	gw, admin := freeAddr(t), freeAddr(t)
	// The defaults are 127.0.0.1:8080 and :9090; tests take free ports the documented way.
	cmd := exec.Command(gatehouseBin, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GATEHOUSE_LISTEN="+gw, "GATEHOUSE_ADMIN_LISTEN="+admin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs regoLog // a process output buffer safe to read while it is written
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	banner := make(chan []string, 1)
	go func() {
		var lines, curls []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(strings.TrimSpace(sc.Text()), "curl ") {
				curls = append(curls, strings.TrimSpace(sc.Text()))
				if len(curls) == 2 {
					banner <- append(curls, strings.Join(lines, "\n"))
					return
				}
			}
		}
		banner <- []string{strings.Join(lines, "\n")}
	}()
	var printed []string
	select {
	case printed = <-banner:
	case <-time.After(20 * time.Second):
		t.Fatalf("gatehouse serve printed no command to try within 20s\nstderr:\n%s", logs.String())
	}
	if len(printed) != 3 {
		t.Fatalf("banner without the two commands:\n%s\nstderr:\n%s", printed[0], logs.String())
	}
	for _, want := range []string{"(embedded default)", "http://" + gw + "/mcp", "fs.read fs.write fs.list", "starter Rego policies", "gatehouse-audit.jsonl"} {
		if !strings.Contains(printed[2], want) {
			t.Errorf("the banner does not say %q:\n%s", want, printed[2])
		}
	}
	// The printed commands work as printed.
	for i, want := range []string{`"created":true`, `# Hello from gatehouse`} {
		out, err := exec.Command("bash", "-c", printed[i]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("printed command %d: %v\n%s", i+1, err, out)
		}
	}

	s := connectHTTP(t, "http://"+gw+"/mcp")
	if out, isErr, err := callTool(t, s, "fs.write", map[string]any{"path": "notes/plan.md", "content": "# plan\n"}); err != nil || isErr {
		t.Fatalf("fs.write: %q %v", out, err)
	}
	out, _, err := callTool(t, s, "fs.list", map[string]any{})
	if err != nil || !strings.Contains(out, "hello.md") || !strings.Contains(out, "notes") {
		t.Errorf("fs.list: %q %v", out, err)
	}
	if out, _, err := callTool(t, s, "fs.read", map[string]any{"path": "notes/plan.md"}); err != nil || out != "# plan\n" {
		t.Errorf("fs.read: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse-data", "default", "notes", "plan.md")); err != nil {
		t.Errorf("not written in the default engagement's jail: %v", err)
	}
	// Another engagement sees none of it; the starter policy refuses a secret in arguments.
	other := connectHTTP(t, "http://"+gw+"/e/other/mcp")
	if out, _, err := callTool(t, other, "fs.list", map[string]any{}); err != nil || strings.Contains(out, "notes") {
		t.Errorf("engagement other lists the default engagement's files: %q %v", out, err)
	}
	if _, _, err := callTool(t, s, "fs.write", map[string]any{"path": "x.txt", "content": "x", "api_key": "sk_live_abc"}); err == nil {
		t.Error("a secret-bearing argument passed the starter policy")
	}
	s.Close()
	other.Close()

	resp, err := httpGet("http://" + admin + "/readyz")
	if err != nil || !strings.Contains(resp, `"rego=enforce"`) {
		t.Errorf("/readyz: %v %s", err, resp)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if out, err := exec.Command(gatehouseBin, "verify", "--audit", filepath.Join(dir, "gatehouse-audit.jsonl")).CombinedOutput(); err != nil {
		t.Errorf("verify: %v\n%s", err, out)
	}
	var rec map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, "gatehouse-audit.jsonl"))
	for _, line := range strings.Split(string(data), "\n") {
		if json.Unmarshal([]byte(line), &rec) == nil && rec["tool"] == "fs.write" && rec["tenant"] == "default" {
			return
		}
	}
	t.Error("no audit record of fs.write in the default engagement")
}

func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sf", url).Output()
	return string(out), err
}
