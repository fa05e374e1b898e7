package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policysource"
)

// writeTree writes files (relative path → content) under a new directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
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

const okPolicy = "package gatehouse\n\ndecision := {\"allow\": input.tool.name != \"rm\"}\n"

// TestStarterPoliciesPass runs the Rego unit tests shipped in policies/ with gatehouse test.
func TestStarterPoliciesPass(t *testing.T) {
	code, out, errOut := gatehouse(t, "", "test", repo("policies"))
	m := regexp.MustCompile(`PASS: (\d+)/(\d+)`).FindStringSubmatch(out)
	if code != ExitOK || m == nil || m[1] != m[2] || strings.Contains(out, "FAIL") {
		t.Fatalf("gatehouse test policies/: exit %d\n%s%s", code, out, errOut)
	}
	if n, _ := strconv.Atoi(m[1]); n < 30 {
		t.Errorf("only %d tests ran, want the starter suite (30 or more)", n)
	}
}

func TestTestCommand(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"gatehouse/p.rego": okPolicy,
		"gatehouse/p_test.rego": `package gatehouse_test

import data.gatehouse

test_rm_denied if not gatehouse.decision.allow with input as {"tool": {"name": "rm"}}

test_ls_allowed if gatehouse.decision.allow with input as {"tool": {"name": "ls"}}

test_wrong_on_purpose if gatehouse.decision.allow with input as {"tool": {"name": "rm"}}
`,
	})
	code, out, _ := gatehouse(t, "", "test", dir)
	if code != ExitProblem || !strings.Contains(out, "data.gatehouse_test.test_wrong_on_purpose: FAIL") ||
		!strings.Contains(out, "PASS: 2/3") || !strings.Contains(out, "FAIL: 1/3") {
		t.Errorf("a failing test: exit %d, want %d\n%s", code, ExitProblem, out)
	}
	if strings.Contains(out, "test_ls_allowed: PASS") {
		t.Errorf("passing tests are listed without -v:\n%s", out)
	}
	code, out, _ = gatehouse(t, "", "test", "-v", "--run", "allowed", dir)
	if code != ExitOK || !strings.Contains(out, "data.gatehouse_test.test_ls_allowed: PASS") || strings.Contains(out, "wrong_on_purpose") {
		t.Errorf("-v --run allowed: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, filepath.Join(dir, "gatehouse", "p_test.rego")) {
		t.Errorf("results are not located in the file on disk:\n%s", out)
	}

	broken := writeTree(t, map[string]string{"x/p.rego": "package x\n\ny := [\n"})
	code, _, errOut := gatehouse(t, "", "test", broken)
	if code != ExitUsage || !strings.Contains(errOut, filepath.Join(broken, "x", "p.rego")+":4:") {
		t.Errorf("a syntax error: exit %d, want %d, located\n%s", code, ExitUsage, errOut)
	}
	unsafe := writeTree(t, map[string]string{"x/p.rego": "package x\n\ny := time.now_ns()\n\ntest_y if y\n"})
	code, _, errOut = gatehouse(t, "", "test", unsafe)
	if code != ExitUsage || !strings.Contains(errOut, "p.rego:3: time.now_ns is not allowed") {
		t.Errorf("a refused built-in fails the tests as it would fail to load: exit %d\n%s", code, errOut)
	}
	code, out, _ = gatehouse(t, "", "test", writeTree(t, map[string]string{"p.rego": okPolicy}))
	if code != ExitProblem || !strings.Contains(out, "no tests found") {
		t.Errorf("no tests: exit %d\n%s", code, out)
	}
	if code, _, _ := gatehouse(t, "", "test", filepath.Join(t.TempDir(), "absent")); code != ExitUsage {
		t.Errorf("a missing directory: exit %d, want %d", code, ExitUsage)
	}
}

// rsaKeys writes a PEM private key and its public key, and returns their paths.
func rsaKeys(t *testing.T) (private, public string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	private = writeFile(t, "signing.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	public = writeFile(t, "signing.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
	return private, public
}

func TestBundleBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	code, stdout, errOut := gatehouse(t, "", "bundle", "build", repo("policies"), "-o", out, "--revision", "v7")
	if code != ExitOK || !strings.Contains(stdout, "revision v7") {
		t.Fatalf("bundle build: exit %d\n%s%s", code, stdout, errOut)
	}
	b, err := policysource.ReadPath(out, policysource.ReadOptions{})
	if err != nil {
		t.Fatalf("the built bundle does not load: %v", err)
	}
	if b.Manifest.Revision != "v7" {
		t.Errorf("manifest revision = %q, want v7", b.Manifest.Revision)
	}
	for _, m := range b.Modules {
		if strings.HasSuffix(m.Path, "_test.rego") {
			t.Errorf("a test module is in the bundle: %s", m.Path)
		}
	}
	if code, out, _ := gatehouse(t, "", "check", "--bundle", out); code != ExitOK || !strings.Contains(out, "1 bundle(s) valid") {
		t.Errorf("check of the built bundle: exit %d\n%s", code, out)
	}

	private, public := rsaKeys(t)
	signed := filepath.Join(t.TempDir(), "signed.tar.gz")
	if code, stdout, errOut := gatehouse(t, "", "bundle", "build", repo("policies"), "-o", signed, "--signing-key", private); code != ExitOK || !strings.Contains(stdout, "signed") {
		t.Fatalf("signed build: exit %d\n%s%s", code, stdout, errOut)
	}
	v, err := policysource.Verification(public)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policysource.ReadPath(signed, policysource.ReadOptions{Verification: v}); err != nil {
		t.Errorf("the signed bundle does not verify with the public key: %v", err)
	}
	if _, err := policysource.ReadPath(out, policysource.ReadOptions{Verification: v}); err == nil {
		t.Error("the unsigned bundle verified")
	}

	broken := writeTree(t, map[string]string{"gatehouse/p.rego": "package gatehouse\n\ndecision := {\"allow\": true} if http.send({})\n"})
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	code, _, errOut = gatehouse(t, "", "bundle", "build", broken, "-o", bad)
	if code != ExitProblem || !strings.Contains(errOut, "http.send is not allowed") {
		t.Errorf("a bundle that would be refused: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a refused bundle was written: %v", err)
	}
	if code, _, errOut := gatehouse(t, "", "bundle", "build", broken); code != ExitUsage || !strings.Contains(errOut, "-o FILE") {
		t.Errorf("no -o: exit %d %s", code, errOut)
	}
}

func TestCheckBundles(t *testing.T) {
	bad := writeTree(t, map[string]string{"gatehouse/p.rego": "package gatehouse\n\n\ndecision := {\"allow\": nosuch(1)}\n"})
	code, out, _ := gatehouse(t, "", "check", "--bundle", repo("policies"), "--bundle", bad)
	if want := filepath.Join(bad, "gatehouse", "p.rego") + ":4: undefined function nosuch"; code != ExitProblem || !strings.Contains(out, want) {
		t.Errorf("check --bundle: exit %d, want %d and %q\n%s", code, ExitProblem, want, out)
	}
	code, out, _ = gatehouse(t, "", "check", "--format", "json", "--bundle", bad)
	if code != ExitProblem || !strings.Contains(out, `"line": 4`) || !strings.Contains(out, `"severity": "error"`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}

	// A configuration's bundle is checked with its integrity settings, relative to the file.
	built := filepath.Join(t.TempDir(), "b.tar.gz")
	if code, _, errOut := gatehouse(t, "", "bundle", "build", repo("policies"), "-o", built); code != ExitOK {
		t.Fatal(errOut)
	}
	data, _ := os.ReadFile(built)
	sum := sha256.Sum256(data)
	cfgDir := filepath.Dir(built)
	good := filepath.Join(cfgDir, "good.yaml")
	os.WriteFile(good, []byte("policy:\n  bundle: b.tar.gz\n  bundle_sha256: "+hex.EncodeToString(sum[:])+"\n"), 0o644)
	if code, out, _ := gatehouse(t, "", "check", "--config", good); code != ExitOK || !strings.Contains(out, "1 bundle(s) valid") {
		t.Errorf("a configuration with a pinned bundle: exit %d\n%s", code, out)
	}
	pinned := filepath.Join(cfgDir, "pinned.yaml")
	os.WriteFile(pinned, []byte("policy:\n  bundle: b.tar.gz\n  bundle_sha256: "+strings.Repeat("0", 64)+"\n"), 0o644)
	if code, out, _ := gatehouse(t, "", "check", "--config", pinned); code != ExitProblem || !strings.Contains(out, "is pinned") {
		t.Errorf("a configuration whose pin does not match: exit %d\n%s", code, out)
	}
	_, public := rsaKeys(t)
	signedCfg := filepath.Join(cfgDir, "signed.yaml")
	os.WriteFile(signedCfg, []byte("policy:\n  bundle: b.tar.gz\n  bundle_public_key: "+public+"\n"), 0o644)
	if code, out, _ := gatehouse(t, "", "check", "--config", signedCfg); code != ExitProblem || !strings.Contains(out, ".signatures.json") {
		t.Errorf("an unsigned bundle with a public key configured: exit %d\n%s", code, out)
	}
}

func TestRunRegoUsageErrors(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "a.jsonl")
	if code, _, errOut := gatehouse(t, "", "run", "--policy-bundle", repo("policies"), "--rego-mode", "loud", "--audit", audit, "--", "true"); code != ExitUsage || !strings.Contains(errOut, "policy.rego_mode: must be one of") {
		t.Errorf("bad --rego-mode: exit %d %s", code, errOut)
	}
	cfg := writeFile(t, "g.yaml", "policy:\n  bundle: "+repo("policies")+"\n  bundle_public_key: /no/such/key.pem\n")
	if code, _, errOut := gatehouse(t, "", "run", "--config", cfg, "--audit", audit, "--", "true"); code != ExitUsage || !strings.Contains(errOut, cfg+":3: policy.bundle_public_key: /no/such/key.pem does not exist") {
		t.Errorf("an unreadable public key: exit %d %s, want it located at its line", code, errOut)
	}
}

// A missing file the configuration names stops start-up with its line, except the Rego bundle:
// gatehouse starts without it and the Rego engine fails as configured (SPEC §5.7).
func TestStartUpLocatesMissingFiles(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "a.jsonl")
	cfg := writeFile(t, "m.yaml", "policy:\n  rules: /no/such/rules.yaml\n")
	if code, _, errOut := gatehouse(t, "", "run", "--config", cfg, "--audit", audit, "--", "true"); code != ExitUsage || !strings.Contains(errOut, cfg+":2: policy.rules: /no/such/rules.yaml does not exist") {
		t.Errorf("run with a missing rules file: exit %d %s", code, errOut)
	}
	serveCfg := writeFile(t, "s.yaml", "listen: 127.0.0.1:0\npolicy:\n  rules: /no/such/rules.yaml\naudit: {path: "+audit+"}\nupstreams:\n  - {name: fs, builtin: fs}\n")
	if code, _, errOut := gatehouse(t, "", "serve", "--config", serveCfg); code != ExitUsage || !strings.Contains(errOut, serveCfg+":3: policy.rules: /no/such/rules.yaml does not exist") {
		t.Errorf("serve with a missing rules file: exit %d %s", code, errOut)
	}
}
