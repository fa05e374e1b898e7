package fstools

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Canaries: contents of files the engagement under test must never see.
const (
	canaryOutside = "CANARY-outside-the-data-root-7d1f0c"
	canaryOther   = "CANARY-engagement-B-92ab4e"
)

// harness is a data root in a temporary directory with two engagements, A (the one under test, empty
// at first) and B (holding secret.txt), and a secret file outside the data root.
type harness struct {
	tb     testing.TB
	dir    string // the temporary directory: dir/secret.txt, dir/outside/, dir/data/
	root   string // the data root, dir/data
	a      string // engagement A's directory
	tools  *Tools
	secret string // dir/secret.txt
}

func newHarness(tb testing.TB, cfg Config) *harness {
	tb.Helper()
	dir := tb.TempDir()
	h := &harness{tb: tb, dir: dir, root: filepath.Join(dir, "data"), secret: filepath.Join(dir, "secret.txt")}
	h.a = filepath.Join(h.root, "A")
	mustWrite(tb, h.secret, canaryOutside, 0o600)
	mustWrite(tb, filepath.Join(dir, "outside", "secret.txt"), canaryOutside, 0o600)
	mustWrite(tb, filepath.Join(h.root, "B", "secret.txt"), canaryOther, 0o644)
	mustWrite(tb, filepath.Join(h.root, "B", "docs", "secret.md"), canaryOther, 0o644)
	if err := os.MkdirAll(h.a, 0o755); err != nil {
		tb.Fatal(err)
	}
	cfg.Root = h.root
	tools, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { tools.Close() })
	h.tools = tools
	return h
}

func mustWrite(tb testing.TB, name, content string, mode os.FileMode) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		tb.Fatal(err)
	}
}

// callResult is a decoded CallToolResult, with the raw JSON.
type callResult struct {
	Raw               string
	Content           []map[string]any `json:"content"`
	StructuredContent json.RawMessage  `json:"structuredContent"`
	IsError           bool             `json:"isError"`
}

// Text returns the text of the first content block, or "".
func (r callResult) Text() string {
	if len(r.Content) == 0 {
		return ""
	}
	s, _ := r.Content[0]["text"].(string)
	return s
}

// call runs a tool with args (marshalled; a json.RawMessage is passed as it is) and fails the test
// on a Go error.
func (h *harness) call(engagement, tool string, args any) callResult {
	h.tb.Helper()
	res, err := h.callErr(engagement, tool, args)
	if err != nil {
		h.tb.Fatalf("%s %v: unexpected Go error: %v", tool, args, err)
	}
	return res
}

func (h *harness) callErr(engagement, tool string, args any) (callResult, error) {
	h.tb.Helper()
	raw, ok := args.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(args); err != nil {
			h.tb.Fatal(err)
		}
	}
	out, err := h.tools.Call(context.Background(), engagement, tool, raw)
	if err != nil {
		return callResult{}, err
	}
	res := callResult{Raw: string(out)}
	if err := json.Unmarshal(out, &res); err != nil {
		h.tb.Fatalf("%s: result is not a CallToolResult: %v\n%s", tool, err, out)
	}
	if len(res.Content) == 0 {
		h.tb.Fatalf("%s: result has no content: %s", tool, out)
	}
	return res, nil
}

// mustSucceed fails the test unless res is a successful result.
func mustSucceed(tb testing.TB, what string, res callResult) {
	tb.Helper()
	if res.IsError {
		tb.Fatalf("%s: got tool error %q, want success", what, res.Text())
	}
}

// mustRefuse fails the test unless res is a tool error whose message contains want.
func mustRefuse(tb testing.TB, what string, res callResult, want string) {
	tb.Helper()
	if !res.IsError {
		tb.Fatalf("%s: got success %s, want a tool error", what, res.Raw)
	}
	if !strings.Contains(res.Text(), want) {
		tb.Errorf("%s: got error %q, want it to contain %q", what, res.Text(), want)
	}
}

// noCanary fails the test if a result carries a canary's content.
func noCanary(tb testing.TB, what string, res callResult) {
	tb.Helper()
	for _, c := range []string{canaryOutside, canaryOther} {
		if strings.Contains(res.Raw, c) {
			tb.Fatalf("%s: result leaks a file outside the engagement: %s", what, res.Raw)
		}
	}
}

// snapshot records every file, directory and link under dir with its mode and content, to prove
// that a set of calls changed nothing.
func snapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		entry := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			entry += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			entry += " " + string(b)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = entry
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// sameSnapshot fails the test if the tree changed, naming what changed.
func sameSnapshot(tb testing.TB, before, after map[string]string) {
	tb.Helper()
	for k, v := range after {
		if b, ok := before[k]; !ok {
			tb.Errorf("%s was created: %.80s", k, v)
		} else if b != v {
			tb.Errorf("%s changed: got %.80q, want %.80q", k, v, b)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			tb.Errorf("%s was removed", k)
		}
	}
}

// tempFiles lists temporary files a write left in dir.
func tempFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
