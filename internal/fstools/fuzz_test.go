package fstools

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidatePath: whatever ValidatePath accepts is relative, clean, slash-separated, free of ".."
// segments, NUL and backslashes, valid UTF-8, stays under any root it is joined to, and is accepted
// again unchanged.
func FuzzValidatePath(f *testing.F) {
	for _, p := range traversalAttacks {
		f.Add(p)
	}
	for _, c := range benignPaths {
		f.Add(c.in)
	}
	root := filepath.FromSlash("/srv/gatehouse/data/A")
	f.Fuzz(func(t *testing.T, p string) {
		got, err := ValidatePath(p)
		if err != nil {
			if _, ok := err.(*PathError); !ok {
				t.Fatalf("ValidatePath(%q) error %T, want *PathError", p, err)
			}
			return
		}
		switch {
		case got == "":
			t.Fatalf("ValidatePath(%q) = \"\"", p)
		case path.IsAbs(got) || filepath.IsAbs(got) || filepath.VolumeName(got) != "":
			t.Fatalf("ValidatePath(%q) = %q, absolute", p, got)
		case path.Clean(got) != got:
			t.Fatalf("ValidatePath(%q) = %q, not clean", p, got)
		case strings.ContainsAny(got, "\\\x00"):
			t.Fatalf("ValidatePath(%q) = %q, contains a backslash or NUL", p, got)
		case !utf8.ValidString(got):
			t.Fatalf("ValidatePath(%q) = %q, invalid UTF-8", p, got)
		}
		for _, seg := range strings.Split(got, "/") {
			if seg == ".." || (seg == "." && got != ".") || seg == "" {
				t.Fatalf("ValidatePath(%q) = %q, has segment %q", p, got, seg)
			}
		}
		joined := filepath.Join(root, filepath.FromSlash(got))
		if rel, err := filepath.Rel(root, joined); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			t.Fatalf("ValidatePath(%q) = %q, which leaves the root when joined: %s", p, got, joined)
		}
		if again, err := ValidatePath(got); err != nil || again != got {
			t.Fatalf("ValidatePath(%q) = %q, but ValidatePath(%q) = %q, %v", p, got, got, again, err)
		}
	})
}

// FuzzCall runs fs.read and fs.list with fuzzed paths against a real engagement with links out of
// it, and asserts that the content of files outside it never appears in a result.
func FuzzCall(f *testing.F) {
	h := newHarness(f, Config{})
	mustWrite(f, filepath.Join(h.a, "notes.txt"), "notes", 0o644)
	// Links out of the engagement; they may not be creatable everywhere, and that is fine.
	os.Symlink(h.secret, filepath.Join(h.a, "out.txt"))
	os.Symlink("../B", filepath.Join(h.a, "other"))
	os.Symlink(filepath.Join(h.dir, "outside"), filepath.Join(h.a, "outdir"))
	os.Link(h.secret, filepath.Join(h.a, "hard.txt"))
	for _, p := range traversalAttacks {
		f.Add(p)
	}
	for _, p := range []string{"notes.txt", ".", "out.txt", "other", "other/secret.txt", "outdir/secret.txt", "hard.txt", "secret.txt", "B/secret.txt"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		args, err := json.Marshal(map[string]string{"path": p})
		if err != nil {
			return
		}
		for _, tool := range []string{ToolRead, ToolList} {
			out, err := h.tools.Call(context.Background(), "A", tool, args)
			if err != nil {
				t.Fatalf("%s %q: internal error %v", tool, p, err)
			}
			for _, canary := range []string{canaryOutside, canaryOther} {
				if strings.Contains(string(out), canary) {
					t.Fatalf("%s %q leaks a file outside the engagement: %s", tool, p, out)
				}
			}
		}
	})
}
