package auditlog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// uncleanLog writes a log of n decisions and removes its close checkpoint,
// which is what a writer that died after its last fsync leaves behind.
func uncleanLog(t *testing.T, opts Options, n int) []byte {
	t.Helper()
	writeLog(t, opts, n)
	lines := readLines(t, opts.Path)
	writeLines(t, opts.Path, lines[:len(lines)-1])
	data, err := os.ReadFile(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRecoverTornTail(t *testing.T) {
	tests := []struct {
		name string
		torn func(lastLine []byte) []byte // the bytes a crash left after the good records
	}{
		{"half a line", func(last []byte) []byte { return last[:len(last)/2] }},
		{"a whole valid record but the newline", func(last []byte) []byte { return last }},
		{"zeroed blocks", func([]byte) []byte { return make([]byte, 4096) }},
		{"a whole line with a wrong hash", func(last []byte) []byte {
			return append(bytes.Replace(slices.Clone(last), []byte(`"effect":"allow"`), []byte(`"effect":"deny!"`), 1), '\n')
		}},
		{"a garbage line and a partial line", func(last []byte) []byte {
			return append([]byte("not json\n"), last[:10]...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			good := uncleanLog(t, opts, 7)
			lines := readLines(t, opts.Path)
			lastSeq := mustParse(t, lines[len(lines)-1]).Seq
			// The line the crash tore: a valid next record.
			r := mustParse(t, lines[len(lines)-1])
			r.Seq, r.PrevHash = r.Seq+1, r.Hash
			next := Seal(r)
			torn := tc.torn(next)
			if err := os.WriteFile(opts.Path, append(slices.Clone(good), torn...), 0o600); err != nil {
				t.Fatal(err)
			}

			var logs bytes.Buffer
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			w, err := Open(opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := w.Append(t.Context(), decision(100)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			// The torn bytes were moved aside exactly.
			matches, _ := filepath.Glob(opts.Path + ".torn-*")
			if len(matches) != 1 {
				t.Fatalf("torn files: got %q, want one", matches)
			}
			moved, err := os.ReadFile(matches[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(moved, torn) {
				t.Errorf("torn file: got %q, want exactly the torn bytes %q", moved, torn)
			}
			// Nothing before them changed.
			data, err := os.ReadFile(opts.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, good) {
				t.Errorf("active file does not start with the records that were there before the crash")
			}
			after := readLines(t, opts.Path)[len(lines):]
			unclean, moveRec := mustParse(t, after[0]), mustParse(t, after[1])
			if want := "previous writer did not close the log after seq " + itoa(lastSeq); unclean.Type != TypeRecovery || unclean.Detail != want {
				t.Errorf("first record after the crash: got %s %q, want recovery %q", unclean.Type, unclean.Detail, want)
			}
			wantMove := "moved " + itoa(uint64(len(torn))) + " bytes of torn tail after seq " + itoa(lastSeq) +
				" from offset " + itoa(uint64(len(good))) + " to " + filepath.Base(matches[0])
			if moveRec.Type != TypeRecovery || moveRec.Detail != wantMove {
				t.Errorf("second record after the crash: got %s %q, want recovery %q", moveRec.Type, moveRec.Detail, wantMove)
			}
			if unclean.Seq != lastSeq+1 {
				t.Errorf("chain continues at seq %d, want %d", unclean.Seq, lastSeq+1)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "torn tail") {
				t.Errorf("log: got %q, want a WARN about the torn tail", logs.String())
			}
			rep := verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
			if n := countContaining(rep.Warnings, "recovery:"); n != 2 {
				t.Errorf("recovery warnings: got %d in %q, want 2", n, rep.Warnings)
			}
		})
	}
}

func TestRecoverUncleanClose(t *testing.T) {
	opts := testOptions(t)
	uncleanLog(t, opts, 4)
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(opts.Path + ".torn-*"); len(matches) != 0 {
		t.Errorf("torn files: got %q, want none for a log without a torn tail", matches)
	}
	lines := readLines(t, opts.Path)
	got := mustParse(t, lines[len(lines)-2])
	// 4 decisions, no count checkpoint yet (every 5); the log ended at seq 4.
	if want := "previous writer did not close the log after seq 4"; got.Type != TypeRecovery || got.Detail != want {
		t.Errorf("recovery record: got %s %q, want recovery %q", got.Type, got.Detail, want)
	}
	verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
}

func TestReopenCleanLog(t *testing.T) {
	opts := testOptions(t)
	writeLog(t, opts, 3)
	before := readLines(t, opts.Path)
	writeLog(t, opts, 2)
	after := readLines(t, opts.Path)
	if got, want := len(after), len(before)+3; got != want {
		t.Fatalf("lines after reopening: got %d, want %d (2 decisions and a close, no recovery)", got, want)
	}
	first := mustParse(t, after[len(before)])
	if last := mustParse(t, before[len(before)-1]); first.Seq != last.Seq+1 || first.PrevHash != last.Hash || first.Type != TypeDecision {
		t.Errorf("first record after reopening: got seq %d prev %s type %s, want seq %d prev %s decision",
			first.Seq, first.PrevHash, first.Type, last.Seq+1, last.Hash)
	}
	verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
}

func TestOpenLocked(t *testing.T) {
	opts := testOptions(t)
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if inUse, err := InUse(opts.Path); err != nil || !inUse {
		t.Errorf("InUse while open: got %v, %v, want true", inUse, err)
	}
	_, err = Open(opts)
	if err == nil || !strings.Contains(err.Error(), "is in use by another process") {
		t.Errorf("second Open: got %v, want an error saying the log is in use", err)
	}
	if err := w.Append(t.Context(), decision(1)); err != nil {
		t.Errorf("Append after a refused second Open: got %v, want the first writer unharmed", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if inUse, err := InUse(opts.Path); err != nil || inUse {
		t.Errorf("InUse after Close: got %v, %v, want false", inUse, err)
	}
	w2, err := Open(opts)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	w2.Close()
	if _, err := InUse(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InUse of a missing file: got %v, want ErrNotExist", err)
	}
}

func TestOpenNewFileMode(t *testing.T) {
	opts := testOptions(t)
	writeLog(t, opts, 1)
	fi, err := os.Stat(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of a new log: got %#o, want 0600", got)
	}
}

// TestRecoverEmptyActiveAfterRotation continues the chain from the newest
// rotated file when the active file is empty, as after a crash right after
// a rotation.
func TestRecoverEmptyActiveAfterRotation(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 2000
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := w.Append(t.Context(), decision(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Simulate the crash: the writer is gone and the active file is empty.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(opts.Path, 0); err != nil {
		t.Fatal(err)
	}
	sibs, err := siblings(opts.Path)
	if err != nil || len(sibs) == 0 {
		t.Fatalf("siblings: got %v, %v, want rotated files", sibs, err)
	}
	newest := readLines(t, sibs[len(sibs)-1].path)
	last := mustParse(t, newest[len(newest)-1])

	writeLog(t, opts, 2)
	first := mustParse(t, readLines(t, opts.Path)[0])
	if first.Seq != last.Seq+1 || first.PrevHash != last.Hash || first.Type != TypeDecision {
		t.Errorf("first record of the new active file: got seq %d prev %s %s, want seq %d prev %s decision (rotate checkpoint is a clean end)",
			first.Seq, first.PrevHash, first.Type, last.Seq+1, last.Hash)
	}
	paths := []string{opts.Path}
	for _, s := range sibs {
		paths = append(paths, s.path)
	}
	verifyOK(t, paths, VerifyOptions{PublicKey: testPub()})
}

func TestTailReader(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // what prev returns, in order
	}{
		{"empty file", "", []string{""}},
		{"one line", "abc\n", []string{"", "abc"}},
		{"no final newline", "abc\ndef", []string{"def", "abc"}},
		{"empty lines", "\n\n", []string{"", "", ""}},
		{"several", "one\ntwo\nthree\n", []string{"", "three", "two", "one"}},
		{"long line", strings.Repeat("x", 100) + "\ny\n", []string{"", "y", strings.Repeat("x", 100)}},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 3, 7, 64, tailChunk} {
			t.Run(tc.name+"/chunk "+itoa(uint64(chunk)), func(t *testing.T) {
				tr := tailReader{f: strings.NewReader(tc.data), off: int64(len(tc.data)), chunk: chunk}
				var got []string
				for {
					line, start, ok, err := tr.prev()
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					if got := tc.data[start : start+int64(len(line))]; got != string(line) {
						t.Errorf("offset %d: got line %q, want the bytes there %q", start, line, got)
					}
					got = append(got, string(line))
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("lines from the end: got %q, want %q", got, tc.want)
				}
			})
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func countContaining(list []string, sub string) int {
	n := 0
	for _, s := range list {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// TestOpenRefusesNewerVersion keeps an older writer from mistaking records
// of a newer schema for a torn tail and moving them aside.
func TestOpenRefusesNewerVersion(t *testing.T) {
	opts := testOptions(t)
	writeLog(t, opts, 2)
	lines := readLines(t, opts.Path)
	last := mustParse(t, lines[len(lines)-1])
	future := `{"v":3,"seq":` + itoa(last.Seq+1) + `,"novel":true,"prev_hash":"` + last.Hash + `","hash":"` + GenesisHash + `"}`
	writeLines(t, opts.Path, append(lines, []byte(future)))
	before, _ := os.ReadFile(opts.Path)

	_, err := Open(opts)
	if err == nil || !strings.Contains(err.Error(), "unsupported schema version 3") {
		t.Errorf("Open: got %v, want a refusal naming schema version 3", err)
	}
	if after, _ := os.ReadFile(opts.Path); !bytes.Equal(after, before) {
		t.Errorf("Open changed a log it refused")
	}
	if matches, _ := filepath.Glob(opts.Path + ".torn-*"); len(matches) != 0 {
		t.Errorf("torn files: got %q, want none", matches)
	}
}

// TestRecoverNoGoodRecord moves aside a file with no record at all (here:
// not a log) and starts the chain at genesis, saying so.
func TestRecoverNoGoodRecord(t *testing.T) {
	opts := testOptions(t)
	junk := []byte("this is not an audit log\nat all")
	if err := os.WriteFile(opts.Path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	writeLog(t, opts, 1)
	matches, _ := filepath.Glob(opts.Path + ".torn-*")
	if len(matches) != 1 {
		t.Fatalf("torn files: got %q, want one", matches)
	}
	if moved, _ := os.ReadFile(matches[0]); !bytes.Equal(moved, junk) {
		t.Errorf("torn file: got %q, want %q", moved, junk)
	}
	first := mustParse(t, readLines(t, opts.Path)[0])
	want := "moved " + itoa(uint64(len(junk))) + " bytes of torn tail at the start of the log from offset 0 to " + filepath.Base(matches[0])
	if first.Seq != 1 || first.PrevHash != GenesisHash || first.Type != TypeRecovery || first.Detail != want {
		t.Errorf("first record: got seq %d %s %q, want seq 1 from genesis, recovery %q", first.Seq, first.Type, first.Detail, want)
	}
	verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
}
