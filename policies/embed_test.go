package policies

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The embedded bundle is exactly the policies on disk, without their tests.
func TestStarterIsThePoliciesOnDisk(t *testing.T) {
	var embedded []string
	fs.WalkDir(Starter(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, p)
		}
		return err
	})
	onDisk, _ := filepath.Glob("gatehouse/*.rego")
	var want []string
	for _, p := range onDisk {
		if filepath.Ext(p) == ".rego" && !slices.Contains([]string{"_test.rego"}, p[len(p)-10:]) {
			want = append(want, filepath.ToSlash(p))
		}
	}
	slices.Sort(embedded)
	slices.Sort(want)
	if !slices.Equal(embedded, want) || len(want) < 4 {
		t.Errorf("embedded %v, want %v", embedded, want)
	}
	for _, p := range embedded {
		a, _ := fs.ReadFile(Starter(), p)
		b, _ := os.ReadFile(p)
		if string(a) != string(b) {
			t.Errorf("%s differs", p)
		}
	}
	if _, err := Starter().Open("gatehouse/main_test.rego"); err == nil {
		t.Error("a test file is visible in the bundle")
	}
}
