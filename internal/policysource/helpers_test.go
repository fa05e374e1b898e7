package policysource

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/compile"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
)

// policyAllowing is a bundle's policy that allows only tool.
func policyAllowing(tool string) string {
	return "package gatehouse\n\ndefault decision := {\"allow\": false, \"reason\": \"not " + tool + "\"}\n\ndecision := {\"allow\": true} if input.tool.name == \"" + tool + "\"\n"
}

// writeTree writes files (relative path → content) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// opaBuild builds dir with OPA's compile package, as `opa build` (asBundle false) or `opa build -b`
// (asBundle true) does, and returns the bundle file's bytes.
func opaBuild(t testing.TB, dir string, asBundle bool, revision string) []byte {
	t.Helper()
	var buf bytes.Buffer
	c := compile.New().WithPaths(dir).WithAsBundle(asBundle).WithOutput(&buf)
	if asBundle {
		// As `cd DIR && opa build -b .` does: paths in the bundle relative to its root.
		c = compile.New().WithFS(os.DirFS(dir)).WithPaths(".").WithAsBundle(true).WithOutput(&buf)
	}
	if revision != "" {
		c = c.WithRevision(revision)
	}
	if err := c.Build(context.Background()); err != nil {
		t.Fatalf("opa build: %v", err)
	}
	return buf.Bytes()
}

// untar extracts a bundle file into a new directory, as `tar xzf` would.
func untar(t testing.TB, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		writeTree(t, dir, map[string]string{strings.TrimPrefix(h.Name, "/"): string(body)})
	}
}

// ecKeys writes an ECDSA P-256 key pair as PEM files and returns their paths.
func ecKeys(t testing.TB) (private, public string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	private, public = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
	os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
	return private, public
}

// signedBuild builds dir as `opa build -b --signing-key` does.
func signedBuild(t testing.TB, dir, privateKey string) []byte {
	t.Helper()
	sc, err := Signing(privateKey)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := compile.New().WithFS(os.DirFS(dir)).WithPaths(".").WithAsBundle(true).WithOutput(&buf).
		WithBundleSigningConfig(sc).WithBundleVerificationKeyID("any-key-id").Build(context.Background()); err != nil {
		t.Fatalf("signed build: %v", err)
	}
	return buf.Bytes()
}

// syncBuffer is a log destination safe to read while it is written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a Source with a recording apply and its own registry.
type harness struct {
	src  *Source
	reg  *prometheus.Registry
	log  *syncBuffer
	mu   sync.Mutex
	last *rego.Decider
	n    int
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	cfg.Logger = slog.New(slog.NewJSONHandler(h.log, nil))
	cfg.Registerer = h.reg
	src, err := New(cfg, func(d *rego.Decider) {
		h.mu.Lock()
		h.last, h.n = d, h.n+1
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	h.src = src
	return h
}

// decider is the last decider applied.
func (h *harness) decider() (*rego.Decider, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.n
}

// allows reports whether the applied policy allows a call of tool.
func (h *harness) allows(t testing.TB, tool string) bool {
	t.Helper()
	d, _ := h.decider()
	if d == nil {
		t.Fatal("no decider applied")
	}
	v, err := d.Decide(context.Background(), &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: tool}})
	if err != nil {
		t.Fatal(err)
	}
	return v.Effect == policy.EffectAllow
}

type regoDecider = rego.Decider

func regoOptions(query string) rego.Options { return rego.Options{Query: query} }
