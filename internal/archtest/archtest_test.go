// Package archtest enforces the shape of the code base: which packages may import which (so that
// deciders stay pure and the audit log stays usable without the gateway), and that every package has
// exactly one package doc comment.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-mcp/gatehouse"

// pkg is one package directory's non-test files.
type pkg struct {
	path    string // import path
	name    string
	imports map[string]bool
	docs    []string // files that carry a package doc comment
	clock   []string // uses of the clock or randomness (forbidden in deciders)
}

func load(t *testing.T) map[string]*pkg {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	pkgs := map[string]*pkg{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		ip := module + "/" + filepath.ToSlash(rel)
		p := pkgs[ip]
		if p == nil {
			p = &pkg{path: ip, name: f.Name.Name, imports: map[string]bool{}}
			pkgs[ip] = p
		}
		for _, imp := range f.Imports {
			s, _ := strconv.Unquote(imp.Path.Value)
			p.imports[s] = true
		}
		if rel == "internal/policy" || strings.HasPrefix(filepath.ToSlash(rel), "internal/policy/") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, clock := range []string{"time.Now(", "time.Since(", "time.Until(", "rand."} {
				if strings.Contains(string(src), clock) {
					p.clock = append(p.clock, filepath.Base(path)+" uses "+clock)
				}
			}
		}
		if f.Doc != nil {
			p.docs = append(p.docs, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func internalImports(p *pkg) []string {
	var out []string
	for imp := range p.imports {
		if strings.HasPrefix(imp, module+"/") {
			out = append(out, strings.TrimPrefix(imp, module+"/"))
		}
	}
	return out
}

// allowedImports are the leaf packages: what each may import from gatehouse. They are used without the
// gateway (report and verify read audit logs offline; the file tools and token verification are
// security boundaries that must be reviewable alone).
var allowedImports = map[string][]string{
	"internal/fstools":             {},
	"internal/identity/agenttoken": {"internal/secretfile"},
	"internal/atomicfile":          {},
	"internal/secretfile":          {},
	"internal/adminapi":            {},
	"internal/tenancy":             {"internal/adminapi", "internal/atomicfile"},
	"internal/report":              {"internal/auditlog"},
	"internal/redact":              {"internal/auditlog", "internal/jsonscan", "internal/policy"},
	"internal/jsonscan":            {},
	"internal/canonjson":           {},
	"internal/auth":                {"internal/jsonrpc", "internal/policy"},
	"internal/lineloop":            {"internal/jsonrpc"},
	"internal/webhook":             {},
	"internal/auditsink":           {"internal/webhook"},
	"internal/tracing":             {},
}

func TestDependencyDirection(t *testing.T) {
	pkgs := load(t)
	// noIO are imports a pure decider must not have.
	noIO := []string{"net", "net/http", "os", "os/exec", "io/ioutil", "database/sql", "syscall"}
	for ip, p := range pkgs {
		rel := strings.TrimPrefix(ip, module+"/")
		switch {
		case rel == "internal/policy" || strings.HasPrefix(rel, "internal/policy/"):
			for _, imp := range internalImports(p) {
				// A decider may use its own parts (rego/plan), each held to the same rules here, and
				// internal/jsonscan, a tokenizer that imports nothing of the project's and does no I/O.
				if imp != "internal/policy" && imp != "internal/jsonscan" && !strings.HasPrefix(imp, rel+"/") {
					t.Errorf("%s is a pure decider but imports %s", rel, imp)
				}
			}
			for _, use := range p.clock {
				t.Errorf("%s is a pure decider but reads the clock or randomness: %s", rel, use)
			}
			for _, bad := range noIO {
				if p.imports[bad] {
					t.Errorf("%s is a pure decider but imports %s", rel, bad)
				}
			}
		case rel == "internal/auditlog":
			// Only internal/secretfile, a leaf that imports nothing of the project's (its signing key).
			if imps := internalImports(p); len(imps) > 0 && !slices.Equal(imps, []string{"internal/secretfile"}) {
				t.Errorf("internal/auditlog must be usable without the gateway, but imports %v", imps)
			}
		case rel == "internal/jsonrpc" || rel == "internal/mcp":
			for _, imp := range internalImports(p) {
				if imp != "internal/policy" && imp != "internal/jsonrpc" && imp != "internal/jsonscan" {
					t.Errorf("%s may import only internal/policy and internal/jsonscan, but imports %s", rel, imp)
				}
			}
		case allowedImports[rel] != nil:
			for _, imp := range internalImports(p) {
				if !slices.Contains(allowedImports[rel], imp) {
					t.Errorf("%s may import only %v from gatehouse, but imports %s", rel, allowedImports[rel], imp)
				}
			}
		case rel == "cmd/gatehouse":
			if imps := internalImports(p); len(imps) != 1 || imps[0] != "internal/cli" {
				t.Errorf("cmd/gatehouse may import only internal/cli, imports %v", imps)
			}
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages: the walk is broken", len(pkgs))
	}
}

func TestEveryPackageHasOneDoc(t *testing.T) {
	for ip, p := range load(t) {
		if len(p.docs) != 1 {
			t.Errorf("%s has package docs in %d files %v, want exactly 1", strings.TrimPrefix(ip, module+"/"), len(p.docs), p.docs)
		}
	}
}
