package auditlog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Writer.
type Options struct {
	// Path is the active file, e.g. gatehouse-audit.jsonl. Rotated files are
	// written next to it (see MaxBytes).
	Path string
	// MaxBytes rotates the active file when it grows beyond this many bytes
	// after a batch; 0 never rotates. A rotated file is named
	// <stem>-<seq of its first record, 12 digits><ext>, so that lexical order
	// is chain order.
	MaxBytes int64
	// SigningKey, when set, signs every checkpoint, so a reader with the
	// public key can detect a chain rewritten from the start.
	SigningKey ed25519.PrivateKey
	// CheckpointEvery writes a checkpoint after this many records; 0 is off.
	CheckpointEvery int
	// CheckpointInterval writes a checkpoint when this much time passed
	// since the last one and records were written since; 0 is off.
	CheckpointInterval time.Duration
	// Logger receives recovery warnings and write failures; nil discards.
	Logger *slog.Logger
	// Now is the clock for record times; nil is time.Now. For tests.
	Now func() time.Time
	// Durability is when a record's waiter is released: DurabilityFsync (the default) after the
	// batch is fsync'd, DurabilityWrite after it is written to the operating system (the fsync
	// follows within SyncDelay).
	Durability Durability
	// SyncDelay is, with DurabilityWrite, the least time between two fsyncs: what is written in
	// between waits for the next one, so a stream of answers shares one fsync instead of paying one
	// each (an fsync costs tens of microseconds of CPU). 0 is DefaultSyncDelay; negative fsyncs as
	// soon as anything is written.
	SyncDelay time.Duration
	// Export, when set, is given every line of the file, in the file's order (records, checkpoints
	// and recovery records alike), once it is fsync'd: what a SIEM sink forwards (SPEC §12.5). A line
	// that is exported is on disk, so a receiver never holds a line the file could lose to a power
	// cut. With DurabilityFsync it is called on the path of the answers waiting for those lines, with
	// the commit lock held; with DurabilityWrite, by the goroutine that fsyncs. Either way it must
	// copy what it keeps and return at once; the slice is the writer's.
	Export func(lines []byte)

	// syncFile replaces (*os.File).Sync, so tests can count and block fsyncs.
	syncFile func(*os.File) error
}

// DefaultSyncDelay is the SyncDelay of DurabilityWrite when none is set: it bounds how much a
// kernel crash or power loss can take (the records written in the last few milliseconds), and
// allows at most 100 fsyncs a second. Each fsync disturbs the answers written around it: at 2 ms
// the added latency of a stdio call was about 10 µs higher (BENCHMARKS.md).
const DefaultSyncDelay = 10 * time.Millisecond

// Durability says how far a record has travelled before its waiter is released.
type Durability string

// The durability levels.
const (
	// DurabilityFsync releases a record once fsync has returned: it survives a crash of the
	// process, of the kernel, and a power loss.
	DurabilityFsync Durability = "fsync"
	// DurabilityWrite releases a record once write has returned, with an fsync following within
	// SyncDelay (10 ms by default): it survives a crash of gatehouse, but a kernel crash or power
	// loss can lose the records written in the last few milliseconds. It takes the fsync off the
	// path of every answer, and shares it among the answers of those milliseconds. A failed fsync
	// still fails the writer for every later record.
	DurabilityWrite Durability = "write"
)

// ErrClosed is the error of a record submitted after Close.
var ErrClosed = errors.New("auditlog: the audit log writer is closed")

// Writer appends records to a log. It is safe for concurrent use.
//
// One commit at a time touches the file, made by the writer's goroutine or
// by a goroutine waiting for its record (Pending.Wait). A submitted record
// is committed once someone waits for it (Wait, Done) or lets it go
// (Detach): Submit wakes no one, because the usual submitter waits at once
// and then commits the queue itself, sparing a thread wake-up per record.
// Records queue up while a commit writes; the next commit takes everything queued,
// assigns seq, time and hashes in queue order, writes the batch with one
// write and one fsync, and only then releases the batch's waiters, in
// order. This group commit means a record is durable before anyone acts on
// it, yet throughput is not limited to one record per fsync. With
// DurabilityWrite the waiters are released after the write, and a second
// goroutine fsyncs whatever has been written, at most once per SyncDelay,
// so the fsync is off the path of every answer. After a write or fsync
// error the writer accepts nothing more: the gateway fails closed rather
// than acting without a record.
type Writer struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	sync   func(*os.File) error
	keyID  string
	wake   chan struct{} // capacity 1: "the queue is not empty"
	stop   chan struct{} // closed by Close
	exited chan struct{} // closed when the loop has finished
	// jobs carries fsync requests from the loop to the syncer goroutine (DurabilityWrite), and
	// barriers before rotation and close.
	jobs       chan syncJob
	syncExited chan struct{}
	syncDue    atomic.Bool // a data job is queued for the syncer and its fsync has not started

	mu     sync.Mutex
	queue  []*Pending
	closed bool
	failed error // the first write failure; every later record fails with it

	closeErr error // set by the loop before exited is closed

	// commitMu is held by whoever commits: the loop goroutine, or a goroutine waiting for a record
	// (Pending.Wait), which commits the queue itself rather than wake the loop and wait for it.
	commitMu sync.Mutex
	finished bool // the file is closed; guarded by commitMu

	// Guarded by commitMu; set by Open before the loop starts.
	f               *os.File
	size            int64  // bytes in the active file
	firstSeq        uint64 // seq of the active file's first record; 0 while it has none
	seq             uint64 // seq of the last record written
	lastHash        string // hash of the last record written
	sinceCheckpoint int    // records since the last checkpoint
	lastCheckpoint  time.Time
	buf             []byte
	hasher          chainHasher

	// unexported holds the lines written since the last fsync began, for Options.Export.
	exportMu   sync.Mutex
	unexported []byte

	records, checkpoints, syncs, rotations atomic.Uint64
}

// Stats counts what a Writer did, for metrics and tests.
type Stats struct {
	Records     uint64 // records written, checkpoints and recovery records included
	Checkpoints uint64 // checkpoint records written
	Syncs       uint64 // fsyncs of the log; far fewer than Records under load
	Rotations   uint64 // files rotated away
}

// Open opens or creates the log at opts.Path, locks it against other
// writers, recovers from an unclean shutdown (see recover.go) and starts
// the writer goroutine. Recovery records are on disk when Open returns.
func Open(opts Options) (*Writer, error) {
	switch {
	case opts.Path == "":
		return nil, errors.New("auditlog: Options.Path is empty")
	case opts.MaxBytes < 0, opts.CheckpointEvery < 0, opts.CheckpointInterval < 0:
		return nil, errors.New("auditlog: MaxBytes, CheckpointEvery and CheckpointInterval must not be negative")
	case opts.Durability != "" && opts.Durability != DurabilityFsync && opts.Durability != DurabilityWrite:
		return nil, fmt.Errorf("auditlog: durability %q is not fsync or write", opts.Durability)
	case opts.SigningKey != nil && len(opts.SigningKey) != ed25519.PrivateKeySize:
		return nil, errors.New("auditlog: SigningKey is not an Ed25519 private key")
	}
	w := &Writer{
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		sync:     opts.syncFile,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		exited:   make(chan struct{}),
		lastHash: GenesisHash,

		jobs:       make(chan syncJob, 1024),
		syncExited: make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.sync == nil {
		w.sync = (*os.File).Sync
	}
	if opts.SigningKey != nil {
		w.keyID = KeyID(opts.SigningKey.Public().(ed25519.PublicKey))
	}
	f, err := openActive(opts.Path, os.O_CREATE)
	if err != nil {
		return nil, err
	}
	w.f = f
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		w.log.Warn("audit log is accessible by group or others", "path", opts.Path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
	details, err := w.recover()
	if err == nil {
		err = syncDir(filepath.Dir(opts.Path)) // the file may be new
	}
	if err == nil && len(details) > 0 {
		buf := w.buf[:0]
		for _, d := range details {
			w.log.Warn("audit log recovered", "path", opts.Path, "detail", d)
			buf = w.appendRecord(buf, &Record{Type: TypeRecovery, Detail: Truncate(d, MaxFieldChars)})
		}
		err = w.writeAndSync(buf)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	w.lastCheckpoint = w.now()
	go w.syncLoop()
	go w.run()
	return w, nil
}

// openActive opens the active file for appending and locks it. flag adds
// O_CREATE or O_CREATE|O_EXCL.
func openActive(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Submit queues r to be written and returns at once. The writer writes a
// copy of r, with the limits of Truncate and MaxRecordBytes applied and v,
// seq, prev_hash, hash and (when zero) time assigned; r itself is not
// modified. Only decision records may be submitted (an empty Type means
// decision): checkpoints and recovery records are the writer's own.
// Submit never blocks and never panics; a record that cannot be written
// yields a Pending that fails. The record is written once the Pending is
// waited for (Wait, Done) or detached (Detach).
func (w *Writer) Submit(r *Record) *Pending { return w.SubmitThen(r, nil) }

// SubmitThen is Submit, and then, when not nil, is called once the record is on disk (with its seq)
// or has failed (with why), by the goroutine that ended the record's wait: it must return quickly.
func (w *Writer) SubmitThen(r *Record, then func(seq uint64, err error)) *Pending {
	failed := func(err error) *Pending {
		if then != nil {
			then(0, err)
		}
		return failedPending(err)
	}
	if r == nil {
		return failed(errors.New("auditlog: Submit of a nil record"))
	}
	p := &Pending{rec: *r, done: make(chan struct{}), w: w, then: then}
	if err := prepare(&p.rec); err != nil {
		return failed(err)
	}
	w.mu.Lock()
	err := w.failed
	if w.closed {
		err = ErrClosed
	}
	if err == nil {
		w.queue = append(w.queue, p)
	}
	w.mu.Unlock()
	if err != nil {
		return failed(err)
	}
	return p
}

// kick asks the loop to commit what is queued.
func (w *Writer) kick() {
	select {
	case w.wake <- struct{}{}:
	default: // the loop is already due to look at the queue
	}
}

// prepare checks a submitted record and applies the size limits. It runs in
// the submitter's goroutine so the writer's loop stays short.
func prepare(r *Record) error {
	switch r.Type {
	case "":
		r.Type = TypeDecision
	case TypeDecision, TypeEvent:
	default:
		return fmt.Errorf("auditlog: cannot submit a %q record: only decision and event records are submitted", r.Type)
	}
	if r.Checkpoint != nil {
		return fmt.Errorf("auditlog: a %s record cannot carry a checkpoint", r.Type)
	}
	if !r.Time.IsZero() {
		if y := r.Time.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("auditlog: record time %v is outside years 0000-9999", r.Time)
		}
	}
	r.V, r.Seq, r.PrevHash, r.Hash = 0, 0, "", ""
	fit(r)
	return nil
}

// Append writes r and returns once it is on disk. If ctx ends first, Append
// returns ctx.Err(), and the record may still be written.
func (w *Writer) Append(ctx context.Context, r *Record) error {
	p := w.Submit(r)
	select {
	case <-p.Done():
		return p.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes everything submitted before it, then a signed close
// checkpoint, fsyncs, and releases the lock. Later Submits fail with
// ErrClosed. Close is idempotent: every call returns the same result.
func (w *Writer) Close() error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		close(w.stop)
	}
	<-w.exited
	return w.closeErr
}

// Stats returns the counters so far.
func (w *Writer) Stats() Stats {
	return Stats{
		Records:     w.records.Load(),
		Checkpoints: w.checkpoints.Load(),
		Syncs:       w.syncs.Load(),
		Rotations:   w.rotations.Load(),
	}
}

// run is the writer's loop: it commits what is queued when woken, interval checkpoints, and the
// close.
func (w *Writer) run() {
	defer close(w.exited)
	var tick <-chan time.Time
	if w.opts.CheckpointInterval > 0 {
		t := time.NewTicker(w.opts.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-w.wake:
			w.commitMu.Lock()
			w.commit(w.take())
			w.commitMu.Unlock()
		case <-tick:
			w.commitMu.Lock()
			if w.intervalDue() {
				w.commit(nil)
			}
			w.commitMu.Unlock()
		case <-w.stop:
			w.commitMu.Lock()
			w.commit(w.take()) // Close sets closed first, so this is the last of the queue
			w.barrier()
			close(w.jobs)
			<-w.syncExited
			w.closeErr = w.finish()
			w.finished = true
			w.commitMu.Unlock()
			return
		}
	}
}

// commitNow commits the queue in the calling goroutine, unless a commit is under way: then the loop
// is asked to commit what is queued after it. Waiting for a record this way saves the hand-off to the
// loop goroutine and back, two thread wake-ups on an otherwise idle gateway; under load, the commit
// under way is what batches the queue.
func (w *Writer) commitNow() {
	if !w.commitMu.TryLock() {
		w.kick()
		return
	}
	defer w.commitMu.Unlock()
	if w.finished {
		return
	}
	if batch := w.take(); len(batch) > 0 {
		w.commit(batch)
	}
}

func (w *Writer) take() []*Pending {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch := w.queue
	w.queue = nil
	return batch
}

func (w *Writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// commit writes batch as one group commit, with whatever checkpoints fall
// due, and then releases its waiters. A nil batch writes only a due
// interval checkpoint.
func (w *Writer) commit(batch []*Pending) {
	if err := w.failure(); err != nil {
		release(batch, err)
		return
	}
	buf := w.buf[:0]
	for _, p := range batch {
		buf = w.appendRecord(buf, &p.rec)
		if w.opts.CheckpointEvery > 0 && w.sinceCheckpoint >= w.opts.CheckpointEvery {
			buf = w.appendCheckpoint(buf, CheckpointCount)
		}
	}
	if w.intervalDue() {
		buf = w.appendCheckpoint(buf, CheckpointInterval)
	}
	if len(buf) == 0 {
		return
	}
	if err := w.write(buf); err != nil {
		if cap(buf) <= 1<<20 {
			w.buf = buf
		}
		release(batch, w.fail(err))
		return
	}
	if cap(buf) <= 1<<20 {
		w.buf = buf // keep a buffer of a usual size for the next batch
	}
	for _, p := range batch {
		p.seq, p.hash = p.rec.Seq, p.rec.Hash
	}
	if w.opts.Durability == DurabilityWrite {
		// Written: release now, and let the syncer fsync this and whatever is written before it
		// starts, off the path of every answer. It is told only if it has not been told already.
		// The syncer is woken first and the waiters last: the scheduler runs the goroutine readied
		// last first, and that must be the one waiting to answer, not the one about to block in
		// fsync.
		if !w.syncDue.Swap(true) {
			w.jobs <- syncJob{data: true}
		}
		release(batch, nil)
	} else {
		// Sync inline: handing the batch to another goroutine would cost a thread wake-up on every
		// answer, more than it saves; batching comes from the queue that builds up during the fsync.
		if err := w.syncNow(); err != nil {
			release(batch, w.fail(err))
			return
		}
		release(batch, nil)
	}
	if w.opts.MaxBytes > 0 && w.size > w.opts.MaxBytes {
		w.barrier() // everything in the old file is synced and released before it is rotated
		if err := w.rotate(); err != nil {
			w.fail(err)
		}
	}
}

// syncJob asks the syncer for an fsync (DurabilityWrite), or is a barrier.
type syncJob struct {
	// data says bytes were written, so an fsync is due.
	data bool
	// barrier, when set, is closed once every earlier write is synced.
	barrier chan struct{}
}

// barrier waits until every write so far is synced. The loop calls it before it touches the file
// outside a plain append (rotation, close).
func (w *Writer) barrier() {
	done := make(chan struct{})
	w.jobs <- syncJob{barrier: done}
	<-done
}

// syncLoop fsyncs for DurabilityWrite: it takes every job queued, fsyncs once if any wrote data, and
// then opens the barriers among them. A failed fsync fails the writer.
func (w *Writer) syncLoop() {
	defer close(w.syncExited)
	delay := w.opts.SyncDelay
	if delay == 0 {
		delay = DefaultSyncDelay
	}
	var last time.Time // when the last fsync started
	for job := range w.jobs {
		if wait := delay - time.Since(last); job.barrier == nil && wait > 0 {
			time.Sleep(wait) // let what is written meanwhile join this fsync
		}
		jobs := []syncJob{job}
	gather:
		for {
			select {
			case j, ok := <-w.jobs:
				if !ok {
					break gather
				}
				jobs = append(jobs, j)
			default:
				break gather
			}
		}
		// Once an fsync has failed, the kernel may have dropped the unwritten pages: a later fsync
		// that succeeds proves nothing about them, so the writer stays failed (w.fail).
		if w.failure() == nil && slices.ContainsFunc(jobs, func(j syncJob) bool { return j.data }) {
			last = time.Now()
			w.syncDue.Store(false) // what is written from here on asks for another fsync
			if err := w.syncNow(); err != nil {
				w.fail(err)
			}
		}
		for _, j := range jobs {
			if j.barrier != nil {
				close(j.barrier)
			}
		}
	}
}

// fail records the first write failure, so every later record fails too,
// and returns the error the waiters see.
func (w *Writer) fail(err error) error {
	err = fmt.Errorf("audit log %s failed, no further records are accepted: %w", w.opts.Path, err)
	w.mu.Lock()
	if w.failed == nil {
		w.failed = err
		w.log.Error("audit log write failed; failing every later record", "path", w.opts.Path, "err", err)
	}
	err = w.failed
	w.mu.Unlock()
	return err
}

func (w *Writer) intervalDue() bool {
	return w.opts.CheckpointInterval > 0 && w.sinceCheckpoint > 0 &&
		w.now().Sub(w.lastCheckpoint) >= w.opts.CheckpointInterval
}

// appendRecord makes r the next record of the chain and appends its line,
// newline included, to buf.
func (w *Writer) appendRecord(buf []byte, r *Record) []byte {
	w.seq++
	r.V, r.Seq, r.PrevHash = Version, w.seq, w.lastHash
	if r.Time.IsZero() {
		r.Time = w.now()
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	start := len(buf)
	buf = AppendBody(buf, r)
	r.Hash = string(w.hasher.hashBytes(r.PrevHash, buf[start:], nil))
	buf = appendHashMember(buf[:len(buf)-1], r.Hash)
	buf = append(buf, '\n')
	w.lastHash = r.Hash
	if w.firstSeq == 0 {
		w.firstSeq = r.Seq
	}
	if r.Type == TypeCheckpoint {
		w.sinceCheckpoint = 0
		w.lastCheckpoint = r.Time
		w.checkpoints.Add(1)
	} else {
		w.sinceCheckpoint++
	}
	w.records.Add(1)
	return buf
}

// appendCheckpoint appends a checkpoint naming the last record.
func (w *Writer) appendCheckpoint(buf []byte, reason string) []byte {
	r := &Record{
		Type:       TypeCheckpoint,
		Time:       w.now(),
		Checkpoint: newCheckpoint(reason, w.seq, w.lastHash, w.opts.SigningKey, w.keyID),
	}
	return w.appendRecord(buf, r)
}

// writeAndSync writes buf with one write and fsyncs the file.
func (w *Writer) writeAndSync(buf []byte) error {
	if err := w.write(buf); err != nil {
		return err
	}
	return w.syncNow()
}

// write writes buf with one write.
func (w *Writer) write(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	n, err := w.f.Write(buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if w.opts.Export != nil {
		w.exportMu.Lock()
		w.unexported = append(w.unexported, buf...)
		w.exportMu.Unlock()
	}
	return nil
}

// syncNow fsyncs the file, and then exports what was written before the fsync began. Calls never
// overlap (the syncer's, under DurabilityWrite; the committer's, under DurabilityFsync; rotation and
// close after a barrier; Open before the syncer starts), so lines are exported in the file's order.
func (w *Writer) syncNow() error {
	var lines []byte
	if w.opts.Export != nil {
		w.exportMu.Lock()
		lines, w.unexported = w.unexported, nil
		w.exportMu.Unlock()
	}
	w.syncs.Add(1)
	if err := w.sync(w.f); err != nil {
		return fmt.Errorf("fsync: %w", err) // the lines are not exported: they may not be on disk
	}
	if len(lines) > 0 {
		w.opts.Export(lines)
		w.exportMu.Lock()
		if w.unexported == nil {
			w.unexported = lines[:0] // Export copied them: the array serves the next lines
		}
		w.exportMu.Unlock()
	}
	return nil
}

// finish ends the log on Close: a close checkpoint, fsync, unlock.
func (w *Writer) finish() error {
	err := w.failure()
	if err == nil {
		buf := w.appendCheckpoint(w.buf[:0], CheckpointClose)
		if err = w.writeAndSync(buf); err != nil {
			err = w.fail(err)
		}
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close audit log: %w", cerr)
	}
	return err
}

// syncDir fsyncs a directory, so that a file created or renamed in it
// survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
