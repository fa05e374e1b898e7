package archtest

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The image cannot be built on every machine (no Docker engine in CI), so the Dockerfile is checked
// for what SPEC §8.7 requires and for references that would break the build.
func TestDockerfileRunsAsNonRootAndBuildsTheBinary(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var user, entrypoint string
	var stages int
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stages++
			user = "" // USER does not carry across stages
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entrypoint = line
		}
	}
	if stages < 2 {
		t.Errorf("want a multi-stage build (a build stage and a minimal runtime), got %d stages", stages)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
		t.Errorf("the runtime stage runs as %q, want a non-root USER", user)
	}
	if !strings.Contains(entrypoint, "/usr/local/bin/gatehouse") {
		t.Errorf("ENTRYPOINT %q does not run the installed binary", entrypoint)
	}
	m := regexp.MustCompile(`-X (\S+)\.version=`).FindStringSubmatch(string(data))
	if m == nil || m[1] != "github.com/gatehouse-mcp/gatehouse/internal/cli" {
		t.Errorf("the version ldflag names %v, want internal/cli.version", m)
	}
	if src, err := os.ReadFile("../cli/version.go"); err != nil || !strings.Contains(string(src), "var version") {
		t.Error("internal/cli.version, set by the Dockerfile's ldflags, is gone")
	}
	for _, path := range []string{"../../cmd/gatehouse", "../../examples", "../../policies"} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("the Dockerfile copies %s: %v", path, err)
		}
	}
}
