//go:build unix

package fstools

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// linkHarness adds symbolic and hard links to engagement A: links out of the data root, to /etc,
// to engagement B, inside A, dangling, looping; a hard link to the secret outside; a FIFO.
func linkHarness(t *testing.T) *harness {
	h := newHarness(t, Config{})
	mustWrite(t, filepath.Join(h.a, "real.txt"), "real content", 0o644)
	mustWrite(t, filepath.Join(h.a, "sub", "inner.txt"), "inner content", 0o644)
	links := map[string]string{
		"out.txt":      h.secret,                        // absolute, out of the data root
		"rel-out.txt":  "../../secret.txt",              // relative, out of the data root
		"passwd.txt":   "/etc/passwd",                   // a system file
		"etcdir":       "/etc",                          // a system directory
		"other":        "../B",                          // engagement B's directory
		"other.txt":    "../B/secret.txt",               // engagement B's file
		"outdir":       filepath.Join(h.dir, "outside"), // a directory out of the data root
		"inside.txt":   "real.txt",                      // a file inside A
		"indir":        "sub",                           // a directory inside A
		"dangling.txt": "missing.txt",                   // nothing
		"loop1.txt":    "loop2.txt",                     // a loop
		"loop2.txt":    "loop1.txt",
		"self.txt":     "self.txt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(h.a, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(h.secret, filepath.Join(h.a, "hard.txt")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(h.a, "twin1.txt"), "twin", 0o644)
	if err := os.Link(filepath.Join(h.a, "twin1.txt"), filepath.Join(h.a, "twin2.txt")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(h.a, "fifo.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLinksAreNeverFollowed(t *testing.T) {
	h := linkHarness(t)
	cases := []struct {
		name string
		tool string
		path string
		want string // in the refusal
	}{
		{"read link out of root", ToolRead, "out.txt", "symbolic link"},
		{"read relative link out of root", ToolRead, "rel-out.txt", "symbolic link"},
		{"read link to /etc/passwd", ToolRead, "passwd.txt", "symbolic link"},
		{"read through link to /etc", ToolRead, "etcdir/hostname.txt", "symbolic link"},
		{"read through link to other engagement", ToolRead, "other/secret.txt", "symbolic link"},
		{"read link to other engagement's file", ToolRead, "other.txt", "symbolic link"},
		{"read through link to outside dir", ToolRead, "outdir/secret.txt", "symbolic link"},
		{"read link inside", ToolRead, "inside.txt", "symbolic link"},
		{"read through link to inside dir", ToolRead, "indir/inner.txt", "symbolic link"},
		{"read dangling link", ToolRead, "dangling.txt", "symbolic link"},
		{"read link loop", ToolRead, "loop1.txt", "symbolic link"},
		{"read self link", ToolRead, "self.txt", "symbolic link"},
		{"read hard link to outside", ToolRead, "hard.txt", "hard links"},
		{"read hard link inside", ToolRead, "twin1.txt", "hard links"},
		{"read fifo", ToolRead, "fifo.txt", "not a regular file"},
		{"list link to other engagement", ToolList, "other", "symbolic link"},
		{"list link to outside dir", ToolList, "outdir", "symbolic link"},
		{"list link to /etc", ToolList, "etcdir", "symbolic link"},
		{"list link to inside dir", ToolList, "indir", "symbolic link"},
		{"list through link", ToolList, "other/docs", "symbolic link"},
		{"write over link out of root", ToolWrite, "out.txt", "symbolic link"},
		{"write over link to /etc/passwd", ToolWrite, "passwd.txt", "symbolic link"},
		{"write through link to other engagement", ToolWrite, "other/new.txt", "symbolic link"},
		{"write over other engagement's file", ToolWrite, "other.txt", "symbolic link"},
		{"write through link to outside dir", ToolWrite, "outdir/new.txt", "symbolic link"},
		{"write through link to outside dir, new subdir", ToolWrite, "outdir/x/y/new.txt", "symbolic link"},
		{"write through link to /etc", ToolWrite, "etcdir/new.txt", "symbolic link"},
		{"write over link inside", ToolWrite, "inside.txt", "symbolic link"},
		{"write through link to inside dir", ToolWrite, "indir/new.txt", "symbolic link"},
		{"write over dangling link", ToolWrite, "dangling.txt", "symbolic link"},
		{"write over link loop", ToolWrite, "loop1.txt", "symbolic link"},
		{"write over hard link to outside", ToolWrite, "hard.txt", "hard links"},
		{"write over hard link inside", ToolWrite, "twin2.txt", "hard links"},
		{"write over fifo", ToolWrite, "fifo.txt", "not a regular file"},
	}
	before := snapshot(t, h.dir)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := map[string]string{"path": c.path}
			if c.tool == ToolWrite {
				args["content"] = "pwned"
			}
			res := h.call("A", c.tool, args)
			mustRefuse(t, c.name, res, c.want)
			noCanary(t, c.name, res)
			if strings.Contains(res.Raw, h.dir) {
				t.Errorf("the refusal reveals the data root's location: %s", res.Raw)
			}
		})
	}
	sameSnapshot(t, before, snapshot(t, h.dir))
}

func TestListShowsLinksWithoutFollowing(t *testing.T) {
	h := linkHarness(t)
	res := h.call("A", ToolList, map[string]string{"path": "."})
	mustSucceed(t, "list", res)
	noCanary(t, "list", res)
	var got listResult
	if err := json.Unmarshal(res.StructuredContent, &got); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, e := range got.Entries {
		types[e.Name] = e.Type
		if e.Type != "file" && e.Size != nil {
			t.Errorf("%s (%s) has a size, want sizes for files only", e.Name, e.Type)
		}
	}
	want := map[string]string{
		"out.txt": "symlink", "other": "symlink", "etcdir": "symlink", "loop1.txt": "symlink",
		"dangling.txt": "symlink", "real.txt": "file", "sub": "dir", "fifo.txt": "other", "hard.txt": "file",
	}
	for name, typ := range want {
		if types[name] != typ {
			t.Errorf("entry %q: got type %q, want %q", name, types[name], typ)
		}
	}
}

// TestSymlinkedEngagementDirectory: a link in place of an engagement's directory (which gatehouse
// never makes) is an internal error, never a way into the engagement it points at.
func TestSymlinkedEngagementDirectory(t *testing.T) {
	h := newHarness(t, Config{})
	if err := os.Symlink("B", filepath.Join(h.root, "C")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(h.dir, "outside"), filepath.Join(h.root, "D")); err != nil {
		t.Fatal(err)
	}
	for _, eng := range []string{"C", "D"} {
		for _, tool := range []string{ToolRead, ToolList} {
			out, err := h.tools.Call(context.Background(), eng, tool, json.RawMessage(`{"path":"secret.txt"}`))
			if err == nil {
				t.Errorf("%s in engagement %s: got %s, want an internal error", tool, eng, out)
			}
			if strings.Contains(string(out), canaryOther) || strings.Contains(string(out), canaryOutside) {
				t.Errorf("%s in engagement %s leaks: %s", tool, eng, out)
			}
		}
	}
}

// TestLinkSwappedIn: a directory replaced by a link between calls is refused on the next call.
func TestLinkSwappedIn(t *testing.T) {
	h := newHarness(t, Config{})
	mustSucceed(t, "write", h.call("A", ToolWrite, map[string]string{"path": "d/x.txt", "content": "x"}))
	if err := os.RemoveAll(filepath.Join(h.a, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(h.dir, "outside"), filepath.Join(h.a, "d")); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, "read", h.call("A", ToolRead, map[string]string{"path": "d/secret.txt"}), "symbolic link")
	mustRefuse(t, "write", h.call("A", ToolWrite, map[string]string{"path": "d/x.txt", "content": "x"}), "symbolic link")
	if _, err := os.Stat(filepath.Join(h.dir, "outside", "x.txt")); !os.IsNotExist(err) {
		t.Errorf("a write through the swapped-in link reached outside: %v", err)
	}
}
