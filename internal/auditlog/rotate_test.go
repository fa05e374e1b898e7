package auditlog

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRotatedName(t *testing.T) {
	tests := []struct {
		path string
		seq  uint64
		want string
	}{
		{"/var/log/gatehouse-audit.jsonl", 1, "/var/log/gatehouse-audit-000000000001.jsonl"},
		{"audit.log", 123456, "audit-000000123456.log"},
		{"dir/noext", 7, "dir/noext-000000000007"},
		{"a.b/audit.jsonl", 1234567890123, "a.b/audit-1234567890123.jsonl"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := rotatedName(tc.path, tc.seq); got != tc.want {
				t.Errorf("rotatedName(%q, %d): got %q, want %q", tc.path, tc.seq, got, tc.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 3000
	opts.CheckpointEvery = 10
	const n = 200
	writeLog(t, opts, n)

	sibs, err := siblings(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sibs) < 4 {
		t.Fatalf("rotated files: got %d, want several", len(sibs))
	}
	var names []string
	for _, s := range sibs {
		names = append(names, s.path)
	}
	if !slices.IsSorted(names) {
		t.Errorf("rotated names in chain order are not in lexical order: %q", names)
	}
	all := append(slices.Clone(names), opts.Path)

	var prev *Record
	for _, path := range all {
		lines := readLines(t, path)
		first := mustParse(t, lines[0])
		if path != opts.Path && filepath.Base(path) != filepath.Base(rotatedName(opts.Path, first.Seq)) {
			t.Errorf("%s: first seq is %d, want the name to carry it", path, first.Seq)
		}
		if prev != nil && (first.Seq != prev.Seq+1 || first.PrevHash != prev.Hash) {
			t.Errorf("%s does not continue the previous file: got seq %d prev %s, want seq %d prev %s",
				path, first.Seq, first.PrevHash, prev.Seq+1, prev.Hash)
		}
		prev = mustParse(t, lines[len(lines)-1])
		if path != opts.Path {
			if prev.Type != TypeCheckpoint || prev.Checkpoint.Reason != CheckpointRotate {
				t.Errorf("%s: last record is %s, want a rotate checkpoint", path, lines[len(lines)-1])
			}
			if fi, _ := os.Stat(path); fi.Size() > opts.MaxBytes+2*MaxRecordBytes {
				t.Errorf("%s: %d bytes, want about MaxBytes = %d", path, fi.Size(), opts.MaxBytes)
			}
		}
	}

	t.Run("all files in shuffled order", func(t *testing.T) {
		shuffled := slices.Clone(all)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		rep := verifyOK(t, shuffled, VerifyOptions{PublicKey: testPub()})
		if !slices.Equal(rep.Files, all) {
			t.Errorf("report files: got %q, want chain order %q", rep.Files, all)
		}
		if rep.Decisions != n || rep.FirstSeq != 1 {
			t.Errorf("report: got %d decisions from seq %d, want %d from seq 1", rep.Decisions, rep.FirstSeq, n)
		}
		if countContaining(rep.Warnings, "chain starts at") != 0 {
			t.Errorf("warnings: got %q, want none about the start", rep.Warnings)
		}
	})
	t.Run("only the last file", func(t *testing.T) {
		rep := verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
		want := "chain starts at seq " + itoa(rep.FirstSeq) + ": the link to earlier (rotated) files was not checked"
		if rep.FirstSeq <= 1 || countContaining(rep.Warnings, want) != 1 {
			t.Errorf("warnings: got %q, want %q", rep.Warnings, want)
		}
	})
	t.Run("only rotated files", func(t *testing.T) {
		verifyOK(t, names, VerifyOptions{PublicKey: testPub()})
	})
	t.Run("a middle file missing", func(t *testing.T) {
		gap := 2
		given := slices.Delete(slices.Clone(all), gap, gap+1)
		_, err := Verify(given, VerifyOptions{PublicKey: testPub()})
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("Verify: got %v, want a *Problem", err)
		}
		wantSeq := mustParse(t, readLines(t, all[gap+1])[0]).Seq
		if p.File != all[gap+1] || p.Line != 1 || p.Seq != wantSeq || p.Kind != ProblemSeqLink {
			t.Errorf("Verify: got %v (%s), want %s:1: seq %d, %s", p, p.Kind, all[gap+1], wantSeq, ProblemSeqLink)
		}
		if !strings.Contains(p.Message, "the file does not continue "+all[gap-1]) {
			t.Errorf("message: got %q, want it to name the file it should continue", p.Message)
		}
	})
	t.Run("a file given twice", func(t *testing.T) {
		_, err := Verify(append(slices.Clone(all), all[1]), VerifyOptions{})
		var p *Problem
		if !errors.As(err, &p) || p.Kind != ProblemSeqLink || p.Line != 1 {
			t.Errorf("Verify: got %v, want a seq link problem at line 1 of the repeated file", err)
		}
	})
}

func TestRotateRefusesToOverwrite(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 500
	// A file already holding the name the first rotation would take.
	squatter := rotatedName(opts.Path, 1)
	if err := os.WriteFile(squatter, []byte("evidence\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Records are written until the file exceeds MaxBytes; the rotation
	// after that batch fails, and with it the writer.
	var appendErr error
	for i := 1; i <= 10 && appendErr == nil; i++ {
		appendErr = w.Append(t.Context(), decision(i))
	}
	if appendErr == nil || !strings.Contains(appendErr.Error(), "refusing to overwrite") {
		t.Errorf("Append after a failed rotation: got %v, want the rotation error", appendErr)
	}
	w.Close()
	if data, _ := os.ReadFile(squatter); string(data) != "evidence\n" {
		t.Errorf("existing file: got %q, want it untouched", data)
	}
}
