package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testKey is a fixed signing key, so signatures in golden files are stable
// (Ed25519 signatures are deterministic).
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// fakeClock is a deterministic clock that advances a millisecond per read.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 20, 10, 15, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// decision returns a typical decision record, numbered i.
func decision(i int) *Record {
	return &Record{
		DecisionID: fmt.Sprintf("dec-%04d", i),
		CallID:     fmt.Sprint(i),
		Tenant:     "acme",
		Agent:      "agent-7",
		Method:     "tools/call",
		Upstream:   "fs",
		Tool:       "fs.read",
		Effect:     "allow",
		RuleID:     "allow-reads",
		Engine:     "rules",
		Mode:       "enforce",
		Status:     "ok",
		LatencyUS:  int64(40 + i%7),
	}
}

// testOptions returns writer options for a log in a new temporary
// directory, with a fake clock and the test key.
func testOptions(t testing.TB) Options {
	t.Helper()
	return Options{
		Path:            filepath.Join(t.TempDir(), "gatehouse-audit.jsonl"),
		SigningKey:      testKey,
		CheckpointEvery: 5,
		Now:             newFakeClock().Now,
	}
}

// writeLog writes n decision records through a Writer and closes it.
func writeLog(t testing.TB, opts Options, n int) {
	t.Helper()
	w, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for i := 1; i <= n; i++ {
		if err := w.Append(t.Context(), decision(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// readLines returns the lines of a file, without newlines.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\n"))
	}
	return lines
}

// writeLines writes lines, each with a newline, to a new file in dir.
func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mustParse parses a line the test knows is valid.
func mustParse(t testing.TB, line []byte) *Record {
	t.Helper()
	r, err := ParseLine(line)
	if err != nil {
		t.Fatalf("ParseLine(%s): %v", line, err)
	}
	return r
}

// verifyOK verifies paths and fails the test on any error.
func verifyOK(t testing.TB, paths []string, opts VerifyOptions) *Report {
	t.Helper()
	rep, err := Verify(paths, opts)
	if err != nil {
		t.Fatalf("Verify: got error %v, want none", err)
	}
	return rep
}

// writeRaw rewrites the file at path with edit applied to its bytes.
func writeRaw(t testing.TB, path string, edit func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
