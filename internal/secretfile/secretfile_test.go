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
	for _, perm := range []os.FileMode{0o640, 0o604, 0o660} {
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
