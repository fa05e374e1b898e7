package auditlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzParseLine checks that the strict parser never panics and that any
// line it accepts is exactly the canonical encoding of what it returned, so
// the verifier can never vouch for bytes other than those it parsed.
func FuzzParseLine(f *testing.F) {
	for _, tc := range goldenRecords() {
		data, err := os.ReadFile(goldenPath(tc.name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.TrimSuffix(data, []byte("\n")))
	}
	f.Add([]byte(`{"v":1,"seq":1,"time":"2026-11-20T10:15:00.123456Z","type":"decision","tool":"\u00e9\ud83d\ude80","prev_hash":"` + GenesisHash + `","hash":"` + GenesisHash + `"}`))
	f.Add([]byte(`{"v":1,"v":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLine(line)
		if err != nil {
			return
		}
		if got := Encode(r); !bytes.Equal(got, line) {
			t.Fatalf("accepted line re-encodes differently:\nline %q\ngot  %q", line, got)
		}
		if err := r.validate(); err != nil {
			t.Fatalf("accepted a record that does not validate: %v", err)
		}
	})
}

// FuzzVerify checks that Verify never panics on any file content and that
// every failure is a located Problem in that file, never anything else. It
// reads the content from memory; everything after opening the file is the
// code Verify runs.
func FuzzVerify(f *testing.F) {
	opts := testOptions(f)
	opts.CheckpointEvery = 2 // small seeds: the fuzzer minimizes every interesting input
	writeLog(f, opts, 3)
	valid, err := os.ReadFile(opts.Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(append(bytes.Clone(valid), valid...))
	f.Add([]byte("\n"))
	f.Add([]byte{})
	const path = "audit.jsonl"
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := verify([]string{path}, VerifyOptions{PublicKey: testPub()}, memSource{path: data})
		if rep == nil {
			t.Fatalf("Verify returned no report")
		}
		if err == nil {
			if rep.Records == 0 || rep.LastSeq < rep.FirstSeq {
				t.Fatalf("Verify accepted a log with report %+v", rep)
			}
			return
		}
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("Verify: got %T %v, want a *Problem", err, err)
		}
		if p.File != path || (p.Line < 1 && p.Kind != ProblemEmpty) || p.Kind == "" || p.Message == "" {
			t.Fatalf("Problem is not located: %+v", p)
		}
	})
}

// memSource serves file contents from memory, so that the fuzzer runs the
// verifier without the file system in the way.
type memSource map[string][]byte

func (m memSource) open(path string) (io.ReadCloser, error) {
	data, ok := m[path]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (memSource) inUse(string) bool { return false }
