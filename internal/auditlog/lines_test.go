package auditlog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLineReader(t *testing.T) {
	type result struct {
		n     int // length of the line
		whole bool
		err   error
	}
	const buf = 16 << 10
	tests := []struct {
		name  string
		input string
		want  []result
	}{
		{"empty", "", []result{{0, false, io.EOF}}},
		{"short lines", "a\nbc\n", []result{{1, true, nil}, {2, true, nil}, {0, false, io.EOF}}},
		{"final line without newline", "a\nbc", []result{{1, true, nil}, {2, false, nil}, {0, false, io.EOF}}},
		{"line filling the buffer", strings.Repeat("x", buf-1) + "\n", []result{{buf - 1, true, nil}, {0, false, io.EOF}}},
		{"line one over the buffer", strings.Repeat("x", buf) + "\n", []result{{buf, true, nil}, {0, false, io.EOF}}},
		{"line of several buffers", strings.Repeat("x", 3*buf+5) + "\nok\n", []result{{3*buf + 5, true, nil}, {2, true, nil}, {0, false, io.EOF}}},
		{"longest line", strings.Repeat("x", maxLine) + "\n", []result{{maxLine, true, nil}, {0, false, io.EOF}}},
		{"line too long", strings.Repeat("x", maxLine+1) + "\n", []result{{0, false, errLineTooLong}}},
		{"long final fragment", strings.Repeat("x", 2*buf), []result{{2 * buf, false, nil}, {0, false, io.EOF}}},
		{"too long final fragment", strings.Repeat("x", maxLine+1), []result{{0, false, errLineTooLong}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lr := newLineReader(strings.NewReader(tc.input))
			for i, want := range tc.want {
				line, whole, err := lr.next()
				if len(line) != want.n || whole != want.whole || !errors.Is(err, want.err) {
					t.Fatalf("call %d: got %d bytes, whole=%v, err=%v; want %d bytes, whole=%v, err=%v",
						i+1, len(line), whole, err, want.n, want.whole, want.err)
				}
			}
		})
	}
}

// Records reads every whole record and leaves out a last line still being written; a line that is
// not a record is an error naming it.
func TestRecords(t *testing.T) {
	r := &Record{V: Version, Seq: 1, Type: TypeDecision, Method: "tools/call", PrevHash: GenesisHash}
	line := string(Seal(r))
	path := filepath.Join(t.TempDir(), "a.jsonl")
	os.WriteFile(path, []byte(line+"\n"+line[:40]), 0o600)
	var seqs []uint64
	if err := Records(path, func(rec *Record) error { seqs = append(seqs, rec.Seq); return nil }); err != nil || len(seqs) != 1 {
		t.Errorf("records %v, err %v", seqs, err)
	}
	os.WriteFile(path, []byte(line+"\n"+line[:40]+"\n"), 0o600)
	if err := Records(path, func(*Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "a.jsonl:2:") {
		t.Errorf("a bad line: %v", err)
	}
	stop := errors.New("stop")
	if err := Records(path, func(*Record) error { return stop }); err != stop {
		t.Errorf("fn's error: %v", err)
	}
}
