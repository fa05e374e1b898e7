package auditlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Export is given every line the writer writes, in the file's order and byte for byte: records,
// checkpoints (count, rotate, close) and the recovery records of an Open after an unclean stop. So
// what a SIEM sink received verifies as the chain itself.
func TestExportGetsEveryLineWritten(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 3000
	var exported bytes.Buffer
	opts.Export = func(lines []byte) {
		if len(lines) == 0 || lines[len(lines)-1] != '\n' {
			t.Errorf("exported %q, not whole lines", lines)
		}
		exported.Write(lines) // the writer's buffer is reused: this copies
	}
	writeLog(t, opts, 60)

	// A torn tail: the next Open moves it aside and writes a recovery record.
	writeRaw(t, opts.Path, func(b []byte) []byte { return append(b, `{"v":2,"seq":9`...) })
	before := exported.Len()
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(exported.Bytes()[before:], []byte(`"type":"recovery"`)) {
		t.Errorf("the recovery record Open wrote was not exported")
	}
	if err := w.Append(t.Context(), decision(61)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	sibs, err := siblings(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	var files bytes.Buffer
	var paths []string
	for _, s := range sibs {
		paths = append(paths, s.path)
	}
	paths = append(paths, opts.Path)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files.Write(data)
	}
	if len(sibs) < 2 {
		t.Fatalf("%d rotated files, want several", len(sibs))
	}
	got := exported.Bytes()
	if !bytes.Equal(got, files.Bytes()) {
		t.Fatalf("exported lines (%d bytes) differ from the files' (%d bytes)", len(got), files.Len())
	}

	// What was exported, as one file, verifies: checkpoints, rotation and recovery included.
	one := filepath.Join(t.TempDir(), "received.jsonl")
	if err := os.WriteFile(one, got, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := verifyOK(t, []string{one}, VerifyOptions{PublicKey: testPub()})
	if rep.Records == 0 {
		t.Errorf("verify read no records: %+v", rep)
	}
}

// A line is exported only once an fsync that covers it has succeeded, with either durability: a
// receiver never holds a line the file could lose, and a line whose fsync failed is never exported.
func TestExportOnlyWhatIsFsynced(t *testing.T) {
	for _, d := range []Durability{DurabilityFsync, DurabilityWrite} {
		t.Run(string(d), func(t *testing.T) {
			opts := testOptions(t)
			opts.Durability, opts.SyncDelay = d, time.Millisecond
			var synced, exported atomic.Int64
			var failing atomic.Bool
			var mu sync.Mutex
			var got bytes.Buffer
			opts.syncFile = func(f *os.File) error {
				if failing.Load() {
					return errors.New("input/output error")
				}
				fi, err := f.Stat()
				if err == nil {
					err = f.Sync()
				}
				synced.Store(fi.Size())
				return err
			}
			opts.Export = func(lines []byte) {
				mu.Lock()
				defer mu.Unlock()
				got.Write(lines)
				if n := exported.Add(int64(len(lines))); n > synced.Load() {
					t.Errorf("%d bytes exported, only %d fsync'd", n, synced.Load())
				}
			}
			w, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 20; i++ {
				if err := w.Append(t.Context(), decision(i)); err != nil {
					t.Fatal(err)
				}
			}
			// Every line gets fsync'd and exported (in write mode, by the syncer, soon after).
			fi, err := os.Stat(opts.Path)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 500 && exported.Load() < fi.Size(); i++ {
				time.Sleep(5 * time.Millisecond)
			}
			if exported.Load() != fi.Size() {
				t.Fatalf("%d bytes exported, %d written", exported.Load(), fi.Size())
			}
			failing.Store(true)
			w.Append(t.Context(), &Record{DecisionID: "dec_lost", Tool: "t"}) // fails (fsync) or is released (write)
			w.Append(t.Context(), decision(22))
			w.Close()
			mu.Lock()
			defer mu.Unlock()
			if n := bytes.Count(got.Bytes(), []byte(`"type":"decision"`)); n != 20 {
				t.Errorf("%d decisions exported, want the 20 before the failure", n)
			}
			if bytes.Contains(got.Bytes(), []byte("dec_lost")) {
				t.Errorf("a record whose fsync failed was exported")
			}
		})
	}
}
