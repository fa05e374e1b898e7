package auditlog

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriterConcurrentChain(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 7
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 16, 50
	pendings := make([][]*Pending, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				p := w.Submit(decision(g*each + i))
				pendings[g] = append(pendings[g], p)
				if i%10 == 9 {
					if err := p.Wait(); err != nil {
						t.Errorf("Wait: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	lines := readLines(t, opts.Path)
	seen := map[uint64]bool{}
	for g, ps := range pendings {
		var prev uint64
		for i, p := range ps {
			if err := p.Wait(); err != nil {
				t.Fatalf("goroutine %d record %d: %v", g, i, err)
			}
			seq := p.Seq()
			if seen[seq] {
				t.Fatalf("seq %d assigned twice", seq)
			}
			seen[seq] = true
			if seq <= prev {
				t.Errorf("goroutine %d: seq %d after its own earlier seq %d, want submission order", g, seq, prev)
			}
			prev = seq
			if r := mustParse(t, lines[seq-1]); r.Hash != p.Hash() || r.DecisionID != decision(g*each+i).DecisionID {
				t.Errorf("line %d: got hash %s decision %s, want hash %s decision %s",
					seq, r.Hash, r.DecisionID, p.Hash(), decision(g*each+i).DecisionID)
			}
		}
	}
	rep := verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
	wantCheckpoints := goroutines*each/7 + 1 // every 7 records, and the close
	if rep.Decisions != goroutines*each || rep.Checkpoints != wantCheckpoints || rep.SignedCheckpoints != wantCheckpoints {
		t.Errorf("report: got %d decisions, %d checkpoints (%d signed), want %d, %d (%d)",
			rep.Decisions, rep.Checkpoints, rep.SignedCheckpoints, goroutines*each, wantCheckpoints, wantCheckpoints)
	}
	if got, want := rep.Records, len(lines); got != want {
		t.Errorf("report records: got %d, want %d lines", got, want)
	}
}

// TestGroupCommit shows that concurrent appends share fsyncs: with a slow
// fsync, hundreds of records need only a few dozen.
func TestGroupCommit(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 0
	var calls atomic.Int64
	opts.syncFile = func(f *os.File) error {
		calls.Add(1)
		time.Sleep(2 * time.Millisecond)
		return f.Sync()
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 32, 40
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := w.Append(t.Context(), decision(g*each+i)); err != nil {
					t.Errorf("Append: %v", err)
				}
			}
		})
	}
	wg.Wait()
	st := w.Stats()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	const records = goroutines * each
	if st.Records != records {
		t.Errorf("records: got %d, want %d", st.Records, records)
	}
	if st.Syncs > records/4 || st.Syncs == 0 {
		t.Errorf("fsyncs for %d concurrent records: got %d, want between 1 and %d (group commit)", records, st.Syncs, records/4)
	}
	if got := calls.Load(); got != int64(st.Syncs)+1 { // +1: the close checkpoint
		t.Errorf("sync hook calls: got %d, want Stats.Syncs+1 = %d", got, st.Syncs+1)
	}
	t.Logf("%d records, %d fsyncs", records, st.Syncs)
}

// TestWaitersReleasedOnlyAfterSync blocks fsync and checks that no waiter
// of the batch being synced, nor of any later one, is released until it
// returns, and that records are released in submission order.
func TestWaitersReleasedOnlyAfterSync(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 0
	entered := make(chan int64, 10) // file size when fsync was called
	release := make(chan struct{})
	var blocking atomic.Bool
	blocking.Store(true)
	opts.syncFile = func(f *os.File) error {
		if blocking.Load() {
			fi, _ := f.Stat()
			entered <- fi.Size()
			<-release
		}
		return f.Sync()
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Unblock a sync still waiting, so a failing test ends rather than hangs.
		blocking.Store(false)
		close(release)
		w.Close()
	}()

	first := w.Submit(decision(1))
	first.Detach()    // written by the loop: nobody waits here
	size := <-entered // batch 1 is written and its fsync has started
	if size == 0 {
		t.Errorf("file size at fsync: got 0, want the batch written before fsync")
	}
	var later []*Pending
	for i := 2; i <= 10; i++ {
		later = append(later, w.Submit(decision(i)))
		later[len(later)-1].Detach()
	}
	time.Sleep(20 * time.Millisecond) // give a wrongly early release a chance to happen
	for i, p := range append([]*Pending{first}, later...) {
		if p.isDone() {
			t.Fatalf("record %d released while fsync of batch 1 was blocked", i+1)
		}
	}
	release <- struct{}{}
	if err := first.Wait(); err != nil {
		t.Fatal(err)
	}
	<-entered // batch 2 (records 2..10) is written and its fsync has started
	time.Sleep(20 * time.Millisecond)
	for i, p := range later {
		if p.isDone() {
			t.Fatalf("record %d released while fsync of batch 2 was blocked", i+2)
		}
	}
	release <- struct{}{}
	for i, p := range later {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if got, want := p.Seq(), uint64(i+2); got != want {
			t.Errorf("record %d: got seq %d, want %d (submission order)", i+2, got, want)
		}
	}
	if got, want := w.Stats().Syncs, uint64(2); got != want {
		t.Errorf("fsyncs: got %d, want %d (one per batch)", got, want)
	}
}

func TestWriteFailureFailsBatchAndLater(t *testing.T) {
	opts := testOptions(t)
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	errDisk := errors.New("disk on fire")
	var fail atomic.Bool
	opts.syncFile = func(f *os.File) error {
		if fail.Load() {
			return errDisk
		}
		return f.Sync()
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(t.Context(), decision(1)); err != nil {
		t.Fatalf("Append before the failure: %v", err)
	}
	fail.Store(true)
	if err := w.Append(t.Context(), decision(2)); !errors.Is(err, errDisk) {
		t.Errorf("Append during the failure: got %v, want %v", err, errDisk)
	}
	fail.Store(false)
	p := w.Submit(decision(3))
	if err := p.Wait(); !errors.Is(err, errDisk) {
		t.Errorf("Submit after the failure: got %v, want %v (the writer stays failed)", err, errDisk)
	}
	if p.Seq() != 0 || p.Hash() != "" {
		t.Errorf("failed record: got seq %d hash %q, want none", p.Seq(), p.Hash())
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close: got %v, want %v", err, errDisk)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("log: got %q, want an ERROR naming the failure", logs.String())
	}
}

func TestSubmit(t *testing.T) {
	opts := testOptions(t)
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rec     *Record
		wantErr string
	}{
		{"decision", decision(1), ""},
		{"empty type means decision", &Record{Tool: "x"}, ""},
		{"given time kept", &Record{Time: time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)}, ""},
		{"nil", nil, "nil record"},
		{"checkpoint", &Record{Type: TypeCheckpoint}, `cannot submit a "checkpoint" record`},
		{"recovery", &Record{Type: TypeRecovery}, `cannot submit a "recovery" record`},
		{"checkpoint member", &Record{Checkpoint: &Checkpoint{}}, "cannot carry a checkpoint"},
		{"time out of range", &Record{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "outside years"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before Record
			if tc.rec != nil {
				before = *tc.rec
			}
			err := w.Submit(tc.rec).Wait()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if tc.rec != nil && (tc.rec.Seq != before.Seq || tc.rec.Hash != before.Hash || tc.rec.Type != before.Type) {
				t.Errorf("Submit modified the caller's record: got %+v, want %+v", *tc.rec, before)
			}
		})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, opts.Path)
	if got, want := mustParse(t, lines[2]).Time, time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC); !got.Equal(want) {
		t.Errorf("time of a record submitted with one: got %v, want %v", got, want)
	}
	verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
}

// TestCommitWaitsForAWaiter: Submit wakes no one, so that the goroutine that waits next commits the
// queue itself; a record nobody waits for is written once it is detached.
func TestCommitWaitsForAWaiter(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 0
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	base := w.Stats().Records // recovery records written by Open
	first, second := w.Submit(decision(1)), w.Submit(decision(2))
	time.Sleep(20 * time.Millisecond)
	if got := w.Stats().Records; got != base {
		t.Fatalf("records written before anyone waited: %d", got-base)
	}
	if err := second.Wait(); err != nil {
		t.Fatal(err)
	}
	if !first.isDone() || first.Seq() != base+1 || second.Seq() != base+2 {
		t.Fatalf("waiting for the second record: first done=%v seq %d, second seq %d; want both written in order",
			first.isDone(), first.Seq(), second.Seq())
	}
	detached := w.Submit(decision(3))
	detached.Detach()
	deadline := time.Now().Add(5 * time.Second)
	for !detached.isDone() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if detached.Err() != nil || detached.Seq() != base+3 {
		t.Fatalf("detached record: done=%v err=%v seq %d, want written by the loop", detached.isDone(), detached.Err(), detached.Seq())
	}
}

func TestSubmitAfterClose(t *testing.T) {
	w, err := Open(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := w.Submit(decision(1))
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Submit after Close: Pending never finished")
	}
	if !errors.Is(p.Err(), ErrClosed) {
		t.Errorf("Submit after Close: got %v, want %v", p.Err(), ErrClosed)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil (idempotent)", err)
	}
}

func TestCloseWritesQueuedRecords(t *testing.T) {
	opts := testOptions(t)
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*Pending
	for i := range 100 {
		ps = append(ps, w.Submit(decision(i)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if err := p.Err(); err != nil || !p.isDone() {
			t.Fatalf("record %d submitted before Close: got done=%v err=%v, want written", i, p.isDone(), err)
		}
	}
	lines := readLines(t, opts.Path)
	if last := mustParse(t, lines[len(lines)-1]); !last.sealing() || last.Checkpoint.Reason != CheckpointClose {
		t.Errorf("last record: got %s, want a close checkpoint", lines[len(lines)-1])
	}
}

// TestCheckpointSchedule writes records and reads back the sequence of
// record types: d for a decision, and the first letter of a checkpoint's
// reason in upper case.
func TestCheckpointSchedule(t *testing.T) {
	tests := []struct {
		name     string
		every    int
		interval time.Duration
		records  int
		advance  map[int]time.Duration // before record i, move the clock
		want     string
	}{
		{"none", 0, 0, 4, nil, "ddddC"},
		{"every 3", 3, 0, 7, nil, "dddCdddCdC"},
		{"every 3, exact multiple", 3, 0, 6, nil, "dddCdddCC"},
		{"interval", 0, time.Hour, 5, map[int]time.Duration{3: 2 * time.Hour}, "dddIddC"},
		{"interval needs records since the last", 0, time.Hour, 2, map[int]time.Duration{1: 2 * time.Hour}, "dIdC"},
		{"both", 2, time.Hour, 5, map[int]time.Duration{3: 2 * time.Hour}, "ddCdIddCC"},
		{"a count checkpoint restarts the interval", 2, time.Hour, 5, map[int]time.Duration{4: 2 * time.Hour}, "ddCddCdC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			clock := newFakeClock()
			opts.Now, opts.CheckpointEvery, opts.CheckpointInterval = clock.Now, tc.every, tc.interval
			w, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= tc.records; i++ {
				clock.Advance(tc.advance[i])
				if err := w.Append(t.Context(), decision(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, line := range readLines(t, opts.Path) {
				r := mustParse(t, line)
				if r.Type == TypeCheckpoint {
					got.WriteString(strings.ToUpper(r.Checkpoint.Reason[:1]))
				} else {
					got.WriteString(r.Type[:1])
				}
			}
			if got.String() != tc.want {
				t.Errorf("records: got %s, want %s", got.String(), tc.want)
			}
			verifyOK(t, []string{opts.Path}, VerifyOptions{PublicKey: testPub()})
		})
	}
}

// TestDurabilityWriteReleasesBeforeSync: with DurabilityWrite a record is released once written,
// while its fsync is still running; with the default it is not (TestWaitersReleasedOnlyAfterSync).
func TestDurabilityWriteReleasesBeforeSync(t *testing.T) {
	opts := testOptions(t)
	opts.CheckpointEvery = 0
	opts.Durability = DurabilityWrite
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	var blocking atomic.Bool
	blocking.Store(true)
	opts.syncFile = func(f *os.File) error {
		if blocking.Load() {
			entered <- struct{}{}
			<-release
		}
		return f.Sync()
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	p := w.Submit(decision(1))
	p.Detach()
	<-entered // the fsync of batch 1 is blocked
	select {
	case <-p.Done():
		if p.Err() != nil || p.Seq() != 1 {
			t.Errorf("released record: err %v seq %d", p.Err(), p.Seq())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DurabilityWrite did not release the record before its fsync returned")
	}
	blocking.Store(false)
	close(release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify([]string{opts.Path}, VerifyOptions{}); err != nil {
		t.Errorf("log written with DurabilityWrite does not verify: %v", err)
	}
	if _, err := Open(Options{Path: opts.Path + "x", Durability: "eventually"}); err == nil {
		t.Error("an unknown durability was accepted")
	}
}

// SubmitThen tells its callback how the record ended, once, after the record's wait has ended:
// with the record's seq when written, whether the commit was the waiter's or the writer's; with the
// failure when the record could not be taken.
func TestSubmitThen(t *testing.T) {
	w, err := Open(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		seq  uint64
		err  error
		done bool
	}
	got := make(chan outcome, 4)
	var p *Pending
	then := func(seq uint64, err error) {
		got <- outcome{seq, err, p == nil || p.isDone()}
	}
	p = w.SubmitThen(decision(1), then)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if o := <-got; o.err != nil || o.seq != p.Seq() || o.seq == 0 || !o.done {
		t.Errorf("waited record: then got %+v, want seq %d after its wait ended", o, p.Seq())
	}
	p = w.SubmitThen(decision(2), then)
	p.Detach() // the writer's goroutine commits it
	select {
	case o := <-got:
		if o.err != nil || o.seq != p.Seq() || !o.done {
			t.Errorf("detached record: then got %+v, want seq %d", o, p.Seq())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("then was not called for a record the writer committed")
	}
	w.SubmitThen(nil, then)
	if o := <-got; o.err == nil || o.seq != 0 {
		t.Errorf("nil record: then got %+v, want its failure", o)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p = nil
	w.SubmitThen(decision(3), then)
	if o := <-got; !errors.Is(o.err, ErrClosed) {
		t.Errorf("after Close: then got %+v, want ErrClosed", o)
	}
	select {
	case o := <-got:
		t.Errorf("then called again: %+v", o)
	default:
	}
}
