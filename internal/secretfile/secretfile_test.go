package secretfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, perm)
		os.Chmod(p, perm)
		return p
	}
	if got, err := Read(write("ok", []byte("s3cret\n"), 0o600), "secret file"); err != nil || string(got) != "s3cret\n" {
		t.Errorf("a private file: %q %v", got, err)
	}
	for _, perm := range []os.FileMode{0o604, 0o660, 0o650} {
		p := write("open", []byte("s3cret"), perm)
		if _, err := Read(p, "private key"); err == nil || !strings.Contains(err.Error(), "private key "+p+" has permissions") {
			t.Errorf("mode %#o: %v", perm, err)
		}
	}
	if _, err := Read(write("big", make([]byte, MaxBytes+1), 0o600), "secret file"); err == nil || !strings.Contains(err.Error(), "is larger than") {
		t.Errorf("an oversized file: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none"), "secret file"); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}

// TestGroupOfARootFile reads a secret a Kubernetes Secret volume with fsGroup presents (root's file,
// 0440) and refuses the same modes on a file another user owns.
func TestGroupOfARootFile(t *testing.T) {
	for _, c := range []struct {
		perm      os.FileMode
		rootOwned bool
		want      bool
	}{
		{0o600, false, true}, {0o400, false, true}, {0o440, false, false}, {0o640, false, false},
		{0o440, true, true}, {0o640, true, true}, {0o400, true, true},
		{0o460, true, false}, {0o450, true, false}, {0o444, true, false}, {0o660, true, false},
	} {
		if got := permitted(c.perm, c.rootOwned); got != c.want {
			t.Errorf("permitted(%#o, root-owned %v) = %v, want %v", c.perm, c.rootOwned, got, c.want)
		}
	}

	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("s3cret"), 0o440); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o440); err != nil {
		t.Fatal(err)
	}
	_, err := Read(p, "secret file")
	if os.Geteuid() != 0 { // the file is this user's, not root's: the strict rule
		if err == nil {
			t.Error("a group-readable file of a user other than root was read")
		}
		return
	}
	if err != nil {
		t.Errorf("root's 0440 file: %v", err)
	}
	if err := os.Chown(p, 65532, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p, "secret file"); err == nil {
		t.Error("a group-readable file owned by uid 65532 was read")
	}
}
