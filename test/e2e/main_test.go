// Package e2e tests the gatehouse binary end to end against real MCP peers that nobody here wrote:
// @modelcontextprotocol/server-everything, the MCP Inspector CLI and the official Go SDK client, plus
// the repository's recording test server. The peers are installed by scripts/install-peers (the test
// script and CI run it); a missing peer fails these tests loudly instead of skipping them.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

var (
	gatehouseBin string
	peers        string
	repoRoot     string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	peers = os.Getenv("GATEHOUSE_PEERS")
	if peers == "" {
		peers = filepath.Join(repoRoot, ".cache", "peers")
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatehouseBin = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", gatehouseBin, "./cmd/gatehouse")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// peer returns the path of an installed npm peer binary, failing the test when it is missing.
func peer(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(peers, "npm", "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("MCP peer %s is not installed at %s: run scripts/install-peers first (%v)", name, p, err)
	}
	return p
}

// example returns the path of a file under examples/.
func example(parts ...string) string {
	return filepath.Join(append([]string{repoRoot, "examples"}, parts...)...)
}
