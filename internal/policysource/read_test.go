package policysource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
)

// decideWith compiles b-at-path and decides a call of tool.
func decideWith(t *testing.T, path string, o ReadOptions, tool string) policy.Verdict {
	t.Helper()
	b, err := ReadPath(path, o)
	if err != nil {
		t.Fatalf("ReadPath(%s): %v", path, err)
	}
	d, err := rego.New(context.Background(), b, rego.Options{})
	if err != nil {
		t.Fatalf("compiling %s: %v", path, err)
	}
	v, err := d.Decide(context.Background(), &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: tool}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBundleForms loads the same policy from every form a bundle comes in.
func TestBundleForms(t *testing.T) {
	src := writeTree(t, t.TempDir(), map[string]string{
		"gatehouse/policy.rego":      "package gatehouse\n\ndecision := {\"allow\": input.tool.name in data.gatehouse.tools}\n",
		"gatehouse/data.json":        `{"tools": ["echo"]}`,
		"gatehouse/policy_test.rego": "package gatehouse_test\n\ntest_x if true\n",
		"README.md":                  "not part of the policy",
		".git/config":                "not part of the bundle",
	})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	opaB := opaBuild(t, src, true, "rev-b")
	forms := []struct {
		name, path, revision string
	}{
		{"a plain directory", src, ""},
		{"opa build -b, as a file", write("b.tar.gz", opaB), "rev-b"},
		{"opa build, as a file", write("plain.tar.gz", opaBuild(t, src, false, "rev-plain")), "rev-plain"},
		{"opa build -b, unpacked into a directory", untar(t, opaB), "rev-b"},
		{"a bundle file with another name", write("policy.bundle", opaB), "rev-b"},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			b, err := ReadPath(f.path, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if b.Manifest.Revision != f.revision {
				t.Errorf("revision = %q, want %q", b.Manifest.Revision, f.revision)
			}
			if v := decideWith(t, f.path, ReadOptions{}, "echo"); v.Effect != policy.EffectAllow {
				t.Errorf("echo: got %s (%s), want allow", v.Effect, v.Reason)
			}
			if v := decideWith(t, f.path, ReadOptions{}, "rm"); v.Effect != policy.EffectDeny {
				t.Errorf("rm: got %s, want deny", v.Effect)
			}
		})
	}
}

func TestPinnedDigest(t *testing.T) {
	data := opaBuild(t, writeTree(t, t.TempDir(), map[string]string{"p.rego": policyAllowing("echo")}), true, "")
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	os.WriteFile(path, data, 0o644)
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	if _, err := ReadPath(path, ReadOptions{SHA256: good}); err != nil {
		t.Errorf("the pinned digest: %v", err)
	}
	if _, err := ReadPath(path, ReadOptions{SHA256: "sha256:" + strings.ToUpper(good)}); err != nil {
		t.Errorf("the pinned digest, prefixed and upper case: %v", err)
	}
	other := strings.Repeat("ab", 32)
	if _, err := ReadPath(path, ReadOptions{SHA256: other}); err == nil || !strings.Contains(err.Error(), "but "+other+" is pinned") {
		t.Errorf("another digest: got %v, want a refusal naming both", err)
	}
	if _, err := ReadPath(path, ReadOptions{SHA256: "abc"}); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("a malformed pin: got %v", err)
	}
	if _, err := ReadPath(filepath.Dir(path), ReadOptions{SHA256: good}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a pin on a directory: got %v", err)
	}
}

func TestSignatures(t *testing.T) {
	src := writeTree(t, t.TempDir(), map[string]string{"gatehouse/p.rego": policyAllowing("echo"), "gatehouse/data.json": `{"x": 1}`})
	private, public := ecKeys(t)
	_, otherPublic := ecKeys(t)
	v, err := Verification(public)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := Verification(otherPublic)
	signed := signedBuild(t, src, private)
	dir := t.TempDir()
	signedPath := filepath.Join(dir, "signed.tar.gz")
	os.WriteFile(signedPath, signed, 0o644)
	unsignedPath := filepath.Join(dir, "unsigned.tar.gz")
	os.WriteFile(unsignedPath, opaBuild(t, src, true, ""), 0o644)

	// A signed bundle unpacked, with one file edited after signing.
	tampered := untar(t, signed)
	if err := os.WriteFile(filepath.Join(tampered, "gatehouse", "p.rego"), []byte(policyAllowing("rm")), 0o644); err != nil {
		t.Fatal(err)
	}
	// ... and one with a module added after signing.
	added := writeTree(t, untar(t, signed), map[string]string{"gatehouse/extra.rego": "package gatehouse.extra\n"})

	tests := []struct {
		name, path string
		o          ReadOptions
		want       string // "" loads
	}{
		{"signed, verified", signedPath, ReadOptions{Verification: v}, ""},
		{"signed, unpacked, verified", untar(t, signed), ReadOptions{Verification: v}, ""},
		{"signed, no key configured: loads unverified", signedPath, ReadOptions{}, ""},
		{"unsigned with a key configured", unsignedPath, ReadOptions{Verification: v}, "bundle missing .signatures.json"},
		{"signed by another key", signedPath, ReadOptions{Verification: wrong}, "failed to verify"},
		{"edited after signing", tampered, ReadOptions{Verification: v}, "digest mismatch"},
		{"a module added after signing", added, ReadOptions{Verification: v}, "not included in bundle signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPath(tt.path, tt.o)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want it to load", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Verification(private); err == nil || !strings.Contains(err.Error(), "is not a public key") {
		t.Errorf("a private key given as the public key: got %v", err)
	}
	if _, err := Signing(public); err == nil || !strings.Contains(err.Error(), "is not a private key") {
		t.Errorf("a public key given as the signing key: got %v", err)
	}
}

func TestRefusedForms(t *testing.T) {
	dir := t.TempDir()
	notBundle := filepath.Join(dir, "x.tar.gz")
	os.WriteFile(notBundle, []byte("hello"), 0o644)
	if _, err := ReadPath(notBundle, ReadOptions{}); err == nil || !strings.Contains(err.Error(), "not a bundle file") {
		t.Errorf("a text file: got %v", err)
	}
	if _, err := ReadPath(filepath.Join(dir, "absent"), ReadOptions{}); !os.IsNotExist(err) {
		t.Errorf("a missing path: got %v", err)
	}
	big := filepath.Join(dir, "big.tar.gz")
	os.WriteFile(big, make([]byte, 2048), 0o644)
	if _, err := ReadPath(big, ReadOptions{MaxBytes: 1024}); err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Errorf("an oversize file: got %v", err)
	}
	broken := writeTree(t, t.TempDir(), map[string]string{"gatehouse/p.rego": "package gatehouse\n\nx := [\n"})
	_, err := ReadPath(broken, ReadOptions{})
	got := rego.Located(err, FileNames(broken))
	if len(got) == 0 || got[0].File != filepath.Join(broken, "gatehouse", "p.rego") || got[0].Line != 4 {
		t.Errorf("a syntax error: got %v, want it located in the file on disk", got)
	}
}

func TestFingerprint(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{"a/p.rego": "package a\n", ".git/HEAD": "x"})
	a, err := Fingerprint(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{".git/HEAD": "y"})
	if b, _ := Fingerprint(dir, 0); b != a {
		t.Error("a change in a hidden directory changed the fingerprint")
	}
	writeTree(t, dir, map[string]string{"a/p.rego": "package a\n\nx := 1\n"})
	if b, _ := Fingerprint(dir, 0); b == a {
		t.Error("a changed module left the fingerprint unchanged")
	}
	if FileNames("b.tar.gz")("/gatehouse/p.rego") != "b.tar.gz/gatehouse/p.rego" {
		t.Errorf("FileNames of a file = %q", FileNames("b.tar.gz")("/gatehouse/p.rego"))
	}
}

// configMapVolume lays files out in dir as kubelet lays out a ConfigMap volume: the files in a hidden
// snapshot directory, a ..data link to it (replaced atomically on an update), and one link per key
// into ..data. Called again with other files, it makes a new snapshot and swaps ..data, as an update
// of the ConfigMap does.
func configMapVolume(t *testing.T, dir, snapshot string, files map[string]string) {
	t.Helper()
	writeTree(t, filepath.Join(dir, snapshot), files)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(snapshot, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConfigMapVolume reads a bundle from a directory laid out as a Kubernetes ConfigMap volume: every
// file is a link, and the hidden snapshot directories must not be read twice. An update of the
// ConfigMap changes the fingerprint and the policy.
func TestConfigMapVolume(t *testing.T) {
	dir := t.TempDir()
	module := "package gatehouse\n\ndecision := {\"allow\": input.tool.name in data.tools}\n"
	configMapVolume(t, dir, "..2026_11_21_10_00_00.1", map[string]string{
		"policy.rego": module, "data.json": `{"tools": ["echo"]}`, ".manifest": `{"revision": "one"}`,
	})
	if v := decideWith(t, dir, ReadOptions{}, "echo"); v.Effect != policy.EffectAllow {
		t.Fatalf("echo under the first snapshot: %+v", v)
	}
	b, err := ReadPath(dir, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Modules) != 1 || b.Manifest.Revision != "one" {
		t.Fatalf("modules %d (want 1: the snapshot directory is not read), revision %q", len(b.Modules), b.Manifest.Revision)
	}
	t.Chdir(dir) // a relative path reads the same
	if b, err := ReadPath(".", ReadOptions{}); err != nil || len(b.Modules) != 1 {
		t.Fatalf("the volume as \".\": %v %v", b, err)
	}
	// A link to a file outside the directory is not part of the bundle.
	outside := filepath.Join(t.TempDir(), "credentials.json")
	os.WriteFile(outside, []byte(`{"token": "s3cret"}`), 0o600)
	os.Mkdir(filepath.Join(dir, "leak"), 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "leak", "data.json")); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadPath(dir, ReadOptions{}); err != nil || b.Data["leak"] != nil {
		t.Fatalf("a link out of the bundle directory was read: %v %v", b.Data, err)
	}
	before, err := Fingerprint(dir, 0)
	if err != nil {
		t.Fatal(err)
	}

	configMapVolume(t, dir, "..2026_11_21_10_05_00.2", map[string]string{
		"policy.rego": module, "data.json": `{"tools": ["add"]}`, ".manifest": `{"revision": "two"}`,
	})
	after, err := Fingerprint(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(outside, []byte(`{"token": "changed"}`), 0o600)
	if again, _ := Fingerprint(dir, 0); again != after {
		t.Error("a change outside the directory, through a link, changed the fingerprint")
	}
	if after == before {
		t.Fatal("the ConfigMap's update left the fingerprint unchanged: the poll would never reload it")
	}
	if v := decideWith(t, dir, ReadOptions{}, "echo"); v.Effect == policy.EffectAllow {
		t.Errorf("echo still allowed after the update: %+v", v)
	}
	if v := decideWith(t, dir, ReadOptions{}, "add"); v.Effect != policy.EffectAllow {
		t.Errorf("add under the second snapshot: %+v", v)
	}
}
