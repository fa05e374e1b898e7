package auditlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyProblems(t *testing.T) {
	genesisBroken := func(t *testing.T, path string) {
		r := &Record{V: 1, Seq: 1, Time: goldenTime, Type: TypeDecision, PrevHash: strings.Repeat("1", 64)}
		writeLines(t, path, [][]byte{Seal(r)})
	}
	tests := []struct {
		name    string
		write   func(t *testing.T, path string)
		line    int
		seq     uint64
		kind    ProblemKind
		message string
	}{
		{"empty file", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) },
			0, 0, ProblemEmpty, "the log has no records"},
		{"first record without the genesis prev_hash", genesisBroken,
			1, 1, ProblemHashLink, "the first record of a chain must have prev_hash 0000"},
		{"unknown schema version", func(t *testing.T, path string) {
			writeLines(t, path, [][]byte{Seal(&Record{V: 3, Seq: 1, Time: goldenTime, Type: TypeDecision, PrevHash: GenesisHash})})
		}, 1, 0, ProblemMalformed, "unsupported schema version 3"},
		{"line longer than the limit", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Repeat("x", maxLine+1)+"\n"), 0o600)
		}, 1, 0, ProblemMalformed, "longer than 1048576 bytes"},
		{"torn first line", func(t *testing.T, path string) { os.WriteFile(path, []byte(`{"v":1,"se`), 0o600) },
			1, 0, ProblemTorn, "after the start of the log"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			tc.write(t, path)
			_, err := Verify([]string{path}, VerifyOptions{})
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify: got %v, want a *Problem", err)
			}
			if p.File != path || p.Line != tc.line || p.Seq != tc.seq || p.Kind != tc.kind || !strings.Contains(p.Message, tc.message) {
				t.Errorf("Verify: got %s:%d seq %d %s %q, want %s:%d seq %d %s containing %q",
					p.File, p.Line, p.Seq, p.Kind, p.Message, path, tc.line, tc.seq, tc.kind, tc.message)
			}
		})
	}
}

func TestVerifyUnsealed(t *testing.T) {
	opts := testOptions(t)
	uncleanLog(t, opts, 3)

	if _, err := Verify([]string{opts.Path}, VerifyOptions{}); err == nil {
		t.Errorf("Verify of an unsealed log: got no error, want one")
	}
	rep := verifyOK(t, []string{opts.Path}, VerifyOptions{AllowUnsealed: true})
	if countContaining(rep.Warnings, "log ends at seq 3 without a closing checkpoint") != 1 {
		t.Errorf("warnings with AllowUnsealed: got %q, want one about the missing closing checkpoint", rep.Warnings)
	}
}

func TestVerifyLiveLog(t *testing.T) {
	opts := testOptions(t)
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 3 {
		if err := w.Append(t.Context(), decision(i)); err != nil {
			t.Fatal(err)
		}
	}
	rep := verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
	if countContaining(rep.Warnings, "a writer holds the file") != 1 {
		t.Errorf("warnings for a live log: got %q, want one saying a writer holds it", rep.Warnings)
	}
	if rep.Decisions != 3 || rep.LastSeq != 3 {
		t.Errorf("report: got %d decisions up to seq %d, want 3 up to 3", rep.Decisions, rep.LastSeq)
	}
}

func TestVerifyLiveLogPartialLine(t *testing.T) {
	opts := testOptions(t)
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(t.Context(), decision(1)); err != nil {
		t.Fatal(err)
	}
	// What a reader may see while a batch is being written.
	f, err := os.OpenFile(opts.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":1,"seq":2,"ti`)
	f.Close()
	rep := verifyOK(t, []string{opts.Path}, VerifyOptions{})
	if countContaining(rep.Warnings, "partial line of 18 bytes not checked: a writer holds the file") != 1 {
		t.Errorf("warnings: got %q, want one about the partial line", rep.Warnings)
	}
}

func TestVerifyReport(t *testing.T) {
	opts := testOptions(t)
	writeLog(t, opts, 12)
	empty := filepath.Join(filepath.Dir(opts.Path), "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := verifyOK(t, []string{empty, opts.Path}, VerifyOptions{PublicKey: testPub()})
	lines := readLines(t, opts.Path)
	last := mustParse(t, lines[len(lines)-1])
	want := Report{
		Files:   []string{opts.Path},
		Records: 15, Decisions: 12, Checkpoints: 3, SignedCheckpoints: 3,
		FirstSeq: 1, LastSeq: 15, LastHash: last.Hash,
		Warnings: []string{empty + ": empty file"},
	}
	if rep.Records != want.Records || rep.Decisions != want.Decisions || rep.Checkpoints != want.Checkpoints ||
		rep.SignedCheckpoints != want.SignedCheckpoints || rep.FirstSeq != want.FirstSeq || rep.LastSeq != want.LastSeq ||
		rep.LastHash != want.LastHash || strings.Join(rep.Files, ",") != strings.Join(want.Files, ",") ||
		strings.Join(rep.Warnings, "|") != strings.Join(want.Warnings, "|") {
		t.Errorf("report:\ngot  %+v\nwant %+v", *rep, want)
	}
}

func TestVerifyIOErrors(t *testing.T) {
	if _, err := Verify(nil, VerifyOptions{}); err == nil {
		t.Errorf("Verify of no files: got no error, want one")
	}
	_, err := Verify([]string{filepath.Join(t.TempDir(), "missing.jsonl")}, VerifyOptions{})
	var p *Problem
	if !errors.Is(err, os.ErrNotExist) || errors.As(err, &p) {
		t.Errorf("Verify of a missing file: got %v, want an I/O error that is not a *Problem", err)
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.jsonl", Line: 3, Seq: 7, Message: "hash mismatch"}, "a.jsonl:3: seq 7: hash mismatch"},
		{Problem{File: "a.jsonl", Line: 3, Message: "not a whole record"}, "a.jsonl:3: not a whole record"},
		{Problem{File: "a.jsonl", Message: "the log has no records"}, "a.jsonl: the log has no records"},
	}
	for _, tc := range tests {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("Error(): got %q, want %q", got, tc.want)
		}
	}
}
