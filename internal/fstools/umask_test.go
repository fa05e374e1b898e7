//go:build unix

package fstools

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestModesIgnoreUmask: files are 0644 and directories 0755 even under a restrictive or a
// permissive umask. The umask is process-wide, so this test must not run in parallel with others.
func TestModesIgnoreUmask(t *testing.T) {
	for _, mask := range []int{0o077, 0o000} {
		h := newHarness(t, Config{})
		old := syscall.Umask(mask)
		res := h.call("New", ToolWrite, map[string]string{"path": "d/f.txt", "content": "x"})
		syscall.Umask(old)
		mustSucceed(t, "write", res)
		for path, want := range map[string]os.FileMode{
			filepath.Join(h.root, "New"):               os.ModeDir | 0o755,
			filepath.Join(h.root, "New", "d"):          os.ModeDir | 0o755,
			filepath.Join(h.root, "New", "d", "f.txt"): 0o644,
		} {
			info, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode() != want {
				t.Errorf("umask %03o: %s has mode %v, want %v", mask, path, info.Mode(), want)
			}
		}
	}
}
