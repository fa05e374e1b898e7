package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// background runs a command for the rest of the test and waits until addr accepts connections.
func background(t *testing.T, addr string, env []string, name string, args ...string) *bytes.Buffer {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	logs := start(t, cmd)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return logs
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not listen on %s:\n%s", name, addr, logs.String())
	return nil
}

// start starts cmd for the rest of the test, its output collected, and interrupts it at the end
// (killing it after 15 s), logging the output when the test failed.
func start(t *testing.T, cmd *exec.Cmd) *bytes.Buffer {
	t.Helper()
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
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(cmd.Path), logs.String())
		}
	})
	return &logs
}

// TestInspectorThroughServeFederation lists and calls federated tools with the MCP Inspector CLI
// through gatehouse serve in front of a stdio server (server-everything) and an HTTP server (the
// Go SDK's everything-server).
func TestInspectorThroughServeFederation(t *testing.T) {
	dir := t.TempDir()
	httpUp, gw := freeAddr(t), freeAddr(t)
	background(t, httpUp, nil, peerBin(t, "everything-server"), "-http="+httpUp, "-stateless=false")
	config := fmt.Sprintf(`
listen: %s
admin: {listen: ""}
policy:
  rules: %s
audit:
  path: %s
upstreams:
  - name: everything
    command: [%q, stdio]
  - name: conf
    url: http://%s/
`, gw, example("policies", "allow-all.yaml"), filepath.Join(dir, "audit.jsonl"), peer(t, "mcp-server-everything"), httpUp)
	cfgPath := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfgPath, []byte(config), 0o644)
	background(t, gw, nil, gatehouseBin, "serve", "--config", cfgPath)

	inspect := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, peer(t, "mcp-inspector"), append([]string{"--cli", "http://" + gw + "/mcp", "--transport", "http"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "MCP_CATALOG_PATH="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := inspect("--method", "tools/list")
	for _, want := range []string{`"everything.echo"`, `"everything.get-sum"`, `"conf.test_simple_text"`} {
		if !strings.Contains(list, want) {
			t.Errorf("tools/list through serve lacks %s", want)
		}
	}
	if out := inspect("--method", "tools/call", "--tool-name", "everything.echo", "--tool-arg", "message=federated"); !strings.Contains(out, "Echo: federated") {
		t.Errorf("everything.echo: %s", out)
	}
	if out := inspect("--method", "tools/call", "--tool-name", "conf.test_simple_text"); !strings.Contains(out, `"type": "text"`) {
		t.Errorf("conf.test_simple_text: %s", out)
	}
}

// peerBin returns a peer built into .cache/peers/bin.
func peerBin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(peers, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed: run scripts/install-peers (%v)", p, err)
	}
	return p
}
