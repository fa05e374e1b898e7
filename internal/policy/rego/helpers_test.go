package rego

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	goldenfile "github.com/gatehouse-mcp/gatehouse/internal/golden"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// golden compares got with testdata/<name> (golden.Check).
func golden(t *testing.T, name string, got []byte) { t.Helper(); goldenfile.Check(t, name, got) }

// tarball packs files (bundle path → content) into a bundle file in memory.
func tarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBundle reads files as OPA reads a bundle file.
func readBundle(t testing.TB, files map[string]string) (*bundle.Bundle, error) {
	t.Helper()
	b, err := bundle.NewReader(bytes.NewReader(tarball(t, files))).Read()
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// compile builds a decider from files or fails the test.
func compile(t testing.TB, files map[string]string, opts Options) *Decider {
	t.Helper()
	b, err := readBundle(t, files)
	if err != nil {
		t.Fatalf("reading the bundle: %v", err)
	}
	d, err := New(context.Background(), b, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// policyOf is a one-module bundle.
func policyOf(t testing.TB, src string) *Decider {
	t.Helper()
	return compile(t, map[string]string{"policy.rego": src}, Options{})
}

// starter compiles the repository's starter policies (policies/).
func starter(t testing.TB) *Decider {
	t.Helper()
	return starterQuery(t, "")
}

// starterQuery compiles the starter policies with another decision query.
func starterQuery(t testing.TB, query string) *Decider {
	t.Helper()
	return compileStarter(t, Options{Query: query})
}

// compileStarter compiles the starter policies with opts.
func compileStarter(t testing.TB, opts Options) *Decider {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "policies")
	b, err := bundle.NewCustomReader(bundle.NewDirectoryLoader(dir)).Read()
	if err != nil {
		t.Fatalf("reading the starter policies: %v", err)
	}
	d, err := New(context.Background(), &b, opts)
	if err != nil {
		t.Fatalf("compiling the starter policies: %v", err)
	}
	return d
}

// jsonValue decodes JSON the way the gateway does: numbers stay json.Number.
func jsonValue(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

// call is the input the gateway builds for a tools/call with args (JSON) by a caller with roles.
func call(t testing.TB, tool, args string, roles ...string) *policy.Input {
	t.Helper()
	if roles == nil {
		roles = []string{}
	}
	a, _ := jsonValue(t, args).(map[string]any)
	p := policy.Principal{ID: "alice", Roles: roles, Claims: map[string]any{}}
	return &policy.Input{
		Kind:    "tools/call",
		Phase:   policy.PhaseRequest,
		User:    p,
		Agent:   p,
		Tool:    policy.Tool{Name: tool, Server: "upstream", Args: a},
		Prompt:  policy.Prompt{Args: map[string]any{}},
		Headers: map[string]string{},
		Session: policy.Session{ID: "sess_1"},
		Threat:  policy.Threat{Findings: []policy.Finding{}},
	}
}

// result turns in into the response-phase input for result (JSON).
func result(t testing.TB, in *policy.Input, res string) *policy.Input {
	t.Helper()
	out := *in
	out.Phase, out.Response = policy.PhaseResponse, jsonValue(t, res)
	return &out
}
