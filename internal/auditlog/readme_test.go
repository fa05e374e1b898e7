package auditlog

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestREADMEShellVerifier runs the shell verifier printed in README.md
// against logs this package wrote, so the README's description of the
// format cannot drift from the code.
func TestREADMEShellVerifier(t *testing.T) {
	for _, tool := range []string{"bash", "sha256sum", "openssl", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, script, ok := strings.Cut(string(readme), "```bash\n")
	script, _, ok2 := strings.Cut(script, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```bash block")
	}
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "verify-audit.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pubPEM, err := EncodePublicKeyPEM(testPub())
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "audit.pub")
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, err := EncodePublicKeyPEM(other)
	if err != nil {
		t.Fatal(err)
	}
	otherPath := filepath.Join(dir, "other.pub")
	if err := os.WriteFile(otherPath, otherPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	opts := testOptions(t)
	opts.MaxBytes = 2500
	writeLog(t, opts, 14)
	sibs, err := siblings(opts.Path)
	if err != nil || len(sibs) < 2 {
		t.Fatalf("want rotated files, got %v %v", sibs, err)
	}
	var files []string
	for _, s := range sibs {
		files = append(files, s.path)
	}
	files = append(files, opts.Path)
	edited := filepath.Join(dir, "edited.jsonl")
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(edited, bytes.Replace(data, []byte(`"effect":"allow"`), []byte(`"effect":"deny"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	unsealed := filepath.Join(dir, "unsealed.jsonl")
	writeLines(t, unsealed, readLines(t, files[0])[:3])

	tests := []struct {
		name   string
		args   []string
		wantOK bool
		want   string
	}{
		{"intact, signed", append([]string{"--pubkey", pubPath}, files...), true, "ok: chain intact"},
		{"intact, no key", files, true, "ok: chain intact"},
		{"other key", append([]string{"--pubkey", otherPath}, files...), false, "checkpoint signature does not verify"},
		{"edited", []string{edited}, false, "seq 1: hash mismatch"},
		{"file missing in the middle", []string{files[0], files[len(files)-1]}, false, "follows seq"},
		{"unsealed", []string{unsealed}, false, "without a closing checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("bash", append([]string{scriptPath}, tc.args...)...).CombinedOutput()
			if (err == nil) != tc.wantOK || !strings.Contains(string(out), tc.want) {
				t.Errorf("verify-audit.sh %s: got err=%v output %q, want ok=%v and %q",
					strings.Join(tc.args, " "), err, out, tc.wantOK, tc.want)
			}
		})
	}
	// The same verdicts from Verify, so script and package agree.
	if _, err := Verify(files, VerifyOptions{PublicKey: testPub()}); err != nil {
		t.Errorf("Verify of the intact files: %v", err)
	}
	if _, err := Verify(slices.Clone(files[:1]), VerifyOptions{}); err != nil {
		t.Errorf("Verify of the first rotated file: %v", err)
	}
}
