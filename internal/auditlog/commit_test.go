package auditlog

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitersCommitConcurrently: goroutines that wait for every record commit the queue themselves
// (Pending.Wait), racing the writer's loop and each other, across rotations and checkpoints, in
// both durabilities. Every record is written exactly once, in each goroutine's submission order,
// and the chain verifies across the rotated files.
func TestWaitersCommitConcurrently(t *testing.T) {
	for _, d := range []Durability{DurabilityFsync, DurabilityWrite} {
		t.Run(string(d), func(t *testing.T) {
			opts := testOptions(t)
			opts.Durability = d
			opts.MaxBytes = 4000
			opts.CheckpointEvery = 9
			w, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			const goroutines, each = 8, 40
			seqs := make([][]uint64, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						p := w.Submit(decision(g*each + i))
						if err := p.Wait(); err != nil {
							t.Errorf("Wait: %v", err)
							return
						}
						seqs[g] = append(seqs[g], p.Seq())
					}
				})
			}
			wg.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			seen := map[uint64]bool{}
			for g, s := range seqs {
				for i, seq := range s {
					if seen[seq] || (i > 0 && seq <= s[i-1]) {
						t.Fatalf("goroutine %d: seq %d repeated or out of submission order (%v)", g, seq, s)
					}
					seen[seq] = true
				}
			}
			sibs, err := siblings(opts.Path)
			if err != nil {
				t.Fatal(err)
			}
			if len(sibs) == 0 {
				t.Fatal("no rotation happened; the test needs some")
			}
			var files []string
			for _, s := range sibs {
				files = append(files, s.path)
			}
			rep := verifyOK(t, append(files, opts.Path), VerifyOptions{PublicKey: testPub()})
			if rep.Decisions != goroutines*each {
				t.Errorf("decisions in the log: got %d, want %d", rep.Decisions, goroutines*each)
			}
		})
	}
}

// TestDurabilityWriteSharesFsyncs: with DurabilityWrite, records written in quick succession share
// one fsync (at most one every SyncDelay), each is released without waiting for it, and the last
// one is still fsync'd within SyncDelay without any further record or Close.
func TestDurabilityWriteSharesFsyncs(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 0
	opts.Durability = DurabilityWrite
	opts.SyncDelay = 300 * time.Millisecond
	var synced atomic.Int64 // the file's size at the last fsync
	opts.syncFile = func(f *os.File) error {
		err := f.Sync()
		if fi, serr := f.Stat(); serr == nil {
			synced.Store(fi.Size())
		}
		return err
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	syncs0 := w.Stats().Syncs // recovery and creation
	start := time.Now()
	const n = 30
	for i := range n {
		if err := w.Submit(decision(i)).Wait(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // apart: without the delay, each would get its own fsync
	}
	released := time.Since(start)
	size := int64(0)
	if fi, err := os.Stat(opts.Path); err == nil {
		size = fi.Size()
	}
	deadline := time.Now().Add(10 * time.Second)
	for synced.Load() < size && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := synced.Load(); got < size {
		t.Fatalf("the last records were never fsync'd: synced %d of %d bytes", got, size)
	}
	syncs := w.Stats().Syncs - syncs0
	if released < opts.SyncDelay && syncs > 2 {
		// All were written within one SyncDelay: the first fsync at once, the rest in the next.
		t.Errorf("%d records written in %v took %d fsyncs, want at most 2", n, released, syncs)
	}
	if syncs > n/2 {
		t.Errorf("%d records took %d fsyncs: they are not shared", n, syncs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, []string{opts.Path}, VerifyOptions{})
}
