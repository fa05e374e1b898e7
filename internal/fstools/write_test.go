package fstools

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestWriteModes(t *testing.T) {
	h := newHarness(t, Config{})
	mustSucceed(t, "write", h.call("A", ToolWrite, map[string]string{"path": "d1/d2/new.txt", "content": "new"}))
	mustWrite(t, filepath.Join(h.a, "exec.txt"), "old", 0o755)
	mustWrite(t, filepath.Join(h.a, "private.txt"), "old", 0o600)
	mustWrite(t, filepath.Join(h.a, "setuid.txt"), "old", 0o644)
	os.Chmod(filepath.Join(h.a, "setuid.txt"), os.ModeSetuid|0o755)
	for _, p := range []string{"exec.txt", "private.txt", "setuid.txt"} {
		mustSucceed(t, "overwrite "+p, h.call("A", ToolWrite, map[string]string{"path": p, "content": "new"}))
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{"d1", os.ModeDir | 0o755},
		{"d1/d2", os.ModeDir | 0o755},
		{"d1/d2/new.txt", 0o644},
		{"exec.txt", 0o644},
		{"private.txt", 0o644},
		{"setuid.txt", 0o644},
	} {
		info, err := os.Lstat(filepath.Join(h.a, c.path))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode(); got != c.want {
			t.Errorf("%s: got mode %v, want %v", c.path, got, c.want)
		}
		if !info.IsDir() && info.Mode()&0o111 != 0 {
			t.Errorf("%s is executable", c.path)
		}
	}
	if info, err := os.Lstat(filepath.Join(h.root, "New")); err == nil {
		t.Errorf("engagement New exists before its first use: %v", info.Mode())
	}
	mustRefuse(t, "read in new engagement", h.call("New", ToolRead, map[string]string{"path": "x.txt"}), "does not exist")
	if info, err := os.Lstat(filepath.Join(h.root, "New")); err != nil || info.Mode() != os.ModeDir|0o755 {
		t.Errorf("engagement directory after first use: %v, %v; want a 0755 directory", info, err)
	}
}

// failingWriter writes at most n bytes of what it is given, then fails.
type failingWriter struct {
	w io.Writer
	n int
}

var errInjected = errors.New("injected failure")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return f.w.Write(p)
	}
	n, _ := f.w.Write(p[:f.n])
	f.n = 0
	return n, errInjected
}

// TestFailedWriteLeavesOldFile: whatever makes a write fail, the old file is whole, its mode is
// unchanged and no temporary file is left.
func TestFailedWriteLeavesOldFile(t *testing.T) {
	const old = "the old content, which must survive"
	newContent := strings.Repeat("new content ", 1000)
	cases := []struct {
		name   string
		hooks  testHooks
		args   map[string]string
		goErr  bool   // an internal failure, a Go error
		refuse string // a tool error containing this
	}{
		{name: "failure after part of the data", goErr: true,
			hooks: testHooks{wrapWriter: func(w io.Writer) io.Writer { return &failingWriter{w: w, n: 100} }}},
		{name: "failure before any data", goErr: true,
			hooks: testHooks{wrapWriter: func(w io.Writer) io.Writer { return &failingWriter{w: w} }}},
		{name: "failure before the rename", goErr: true,
			hooks: testHooks{beforeRename: func() error { return errInjected }}},
		{name: "over the size limit", refuse: "over the",
			args: map[string]string{"content": strings.Repeat("x", 2000)}},
		{name: "invalid base64", refuse: "not valid base64",
			args: map[string]string{"content": "not base64!", "encoding": "base64"}},
		{name: "MIME mismatch", refuse: "executable",
			args: map[string]string{"content": base64.StdEncoding.EncodeToString([]byte("\x7fELF\x02\x01\x01")), "encoding": "base64"}},
		{name: "unknown encoding", refuse: "not \"utf-8\" or \"base64\"",
			args: map[string]string{"encoding": "latin1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxFileBytes: 1500})
			h.tools.testHooks = c.hooks
			target := filepath.Join(h.a, "dir", "doc.txt")
			mustWrite(t, target, old, 0o640)
			args := map[string]string{"path": "dir/doc.txt", "content": newContent[:1200]}
			for k, v := range c.args {
				args[k] = v
			}
			res, err := h.callErr("A", ToolWrite, args)
			switch {
			case c.goErr && (err == nil || !errors.Is(err, errInjected)):
				t.Errorf("got %v, %s; want the injected Go error", err, res.Raw)
			case !c.goErr && err != nil:
				t.Errorf("got Go error %v, want a tool error", err)
			case !c.goErr:
				mustRefuse(t, c.name, res, c.refuse)
			}
			got, err := os.ReadFile(target)
			if err != nil || string(got) != old {
				t.Errorf("old file after a failed write: %q, %v; want %q", got, err, old)
			}
			if info, _ := os.Stat(target); info.Mode() != 0o640 {
				t.Errorf("old file's mode changed to %v", info.Mode())
			}
			if tmp := tempFiles(t, h.dir); len(tmp) > 0 {
				t.Errorf("temporary files left behind: %v", tmp)
			}
			// And a write that does not fail still works afterwards.
			h.tools.testHooks = testHooks{}
			mustSucceed(t, "write after failure", h.call("A", ToolWrite, map[string]string{"path": "dir/doc.txt", "content": "fine"}))
		})
	}
}

// TestConcurrentWritesAreAtomic: concurrent writers to one file leave exactly one writer's whole
// content, and readers meanwhile only ever see a whole version.
func TestConcurrentWritesAreAtomic(t *testing.T) {
	h := newHarness(t, Config{})
	mustSucceed(t, "first write", h.call("A", ToolWrite, map[string]string{"path": "race.txt", "content": strings.Repeat("0", 4096)}))
	versions := map[string]bool{strings.Repeat("0", 4096): true}
	for w := range 4 {
		for i := range 5 {
			versions[strings.Repeat(fmt.Sprint(w), 4096-i)] = true
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				res, err := h.callErr("A", ToolWrite, map[string]string{"path": "race.txt", "content": strings.Repeat(fmt.Sprint(w), 4096-i)})
				if err != nil || res.IsError {
					errs <- fmt.Sprintf("write: %v %s", err, res.Raw)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			res, err := h.callErr("A", ToolRead, map[string]string{"path": "race.txt"})
			if err == nil && res.IsError && strings.Contains(res.Text(), "changed while it was being opened") {
				continue // refused because it kept changing: not a partial read
			}
			if err != nil || res.IsError || !versions[res.Text()] {
				errs <- fmt.Sprintf("read saw a partial file: %v %.100s", err, res.Raw)
			}
		}
	})
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	got, _ := os.ReadFile(filepath.Join(h.a, "race.txt"))
	if !versions[string(got)] {
		t.Errorf("final content %.40q... is not one writer's whole content", got)
	}
	if tmp := tempFiles(t, h.dir); len(tmp) > 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

func TestWriteRefusesNonFiles(t *testing.T) {
	h := newHarness(t, Config{})
	mustWrite(t, filepath.Join(h.a, "file.txt"), "x", 0o644)
	if err := os.MkdirAll(filepath.Join(h.a, "dir.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{"dir.txt", "is a directory"},
		{"file.txt/x.txt", "not a directory"},
		{".", "workspace directory itself"},
		{"./", "workspace directory itself"},
	}
	for _, c := range cases {
		mustRefuse(t, "write "+c.path, h.call("A", ToolWrite, map[string]string{"path": c.path, "content": "x"}), c.want)
	}
	if info, err := os.Stat(filepath.Join(h.a, "dir.txt")); err != nil || !info.IsDir() {
		t.Errorf("dir.txt was replaced: %v %v", info, err)
	}
}

// A write that would leave less than MinFreeBytes free on the data root's disk is refused, and
// nothing is written; with the check off, the same write succeeds.
func TestWriteKeepsFreeSpace(t *testing.T) {
	if _, ok := freeBytes(t.TempDir()); !ok {
		t.Skip("free space is not read on this platform")
	}
	h := newHarness(t, Config{MinFreeBytes: 1 << 62}) // more than any disk holds
	mustRefuse(t, "write on a 'full' disk", h.call("A", ToolWrite, map[string]string{"path": "note.txt", "content": "hello"}), "free")
	if _, err := os.Lstat(filepath.Join(h.a, "note.txt")); !os.IsNotExist(err) {
		t.Errorf("the refused file exists: %v", err)
	}
	off := newHarness(t, Config{MinFreeBytes: -1})
	mustSucceed(t, "write with the check off", off.call("A", ToolWrite, map[string]string{"path": "note.txt", "content": "hello"}))
	if def := newHarness(t, Config{}); def.tools.minFree != DefaultMinFreeBytes {
		t.Errorf("default reserve %d, want %d", def.tools.minFree, DefaultMinFreeBytes)
	}
}

// Writes in progress count against the reserve: two writes that each fit, but not together, cannot
// both pass the check before either has landed.
func TestConcurrentWritesShareTheReserve(t *testing.T) {
	if _, ok := freeBytes(t.TempDir()); !ok {
		t.Skip("free space is not read on this platform")
	}
	h := newHarness(t, Config{MinFreeBytes: 1000})
	h.tools.testHooks.freeBytes = func() int64 { return 1000 + 150 } // room for one 100-byte file
	landing, land := make(chan struct{}), make(chan struct{})
	h.tools.testHooks.beforeRename = func() error {
		close(landing)
		<-land
		return nil
	}
	content := strings.Repeat("a", 100)
	first := make(chan callResult, 1)
	go func() { first <- h.call("A", ToolWrite, map[string]string{"path": "one.txt", "content": content}) }()
	<-landing // the first write has passed the check and is being written
	h.tools.testHooks.beforeRename = nil
	mustRefuse(t, "a second write while the first lands", h.call("A", ToolWrite, map[string]string{"path": "two.txt", "content": content}), "free")
	close(land)
	mustSucceed(t, "the first write", <-first)
}
