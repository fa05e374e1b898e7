// Package auditsink exports the audit log's lines, as they are written, to a SIEM (SPEC §12.5):
// standard output or standard error as JSON Lines, or a webhook in batches.
//
// A sink never replaces the local chained file and never delays it. The writer hands each sink the
// bytes it has just written (Export), which copies them into a bounded queue and returns without
// waking anyone; the sink's own goroutine delivers the queue every flush interval, or at once when
// a batch is full. The lines are the file's, byte for byte, checkpoints and recovery records
// included, so a receiver can verify the chain itself. When the queue is full, new lines are
// dropped, counted and logged with the seq of the first one dropped: the local file keeps them, and
// the receiver sees a gap in seq.
package auditsink

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// Deliverer sends one batch of whole lines.
type Deliverer interface {
	// Deliver sends body, records lines of the audit log. An error for which webhook.Final is true
	// drops the batch; any other is retried with a backoff until it succeeds or the sink is closed.
	Deliver(ctx context.Context, body []byte, records int) error
}

// Defaults of Options.
const (
	DefaultBatchRecords  = 500
	DefaultFlushInterval = time.Second
	DefaultQueueBytes    = 16 << 20
	// MaxBatchBytes bounds the body of one delivery (a single longer line goes alone).
	MaxBatchBytes = 4 << 20
)

// Options configures a Sink.
type Options struct {
	// Name identifies the sink in logs and metrics.
	Name      string
	Deliverer Deliverer
	// BatchRecords is the most lines in one delivery, and the queue length that triggers a delivery
	// before the flush interval ends.
	BatchRecords int
	// FlushInterval is the longest a line waits in the queue before a delivery is attempted.
	FlushInterval time.Duration
	// QueueBytes bounds the lines queued and being delivered; past it new lines are dropped.
	QueueBytes int
	Logger     *slog.Logger

	// backoff is the first retry's delay, doubled after each failure up to maxBackoff.
	backoff, maxBackoff time.Duration
}

// Stats counts what a sink did, in lines.
type Stats struct {
	Sent     uint64 // delivered
	Dropped  uint64 // never delivered: the queue was full, the receiver refused them, or shutdown came first
	Failures uint64 // delivery attempts that failed
}

// Sink exports lines to one destination. Export is safe for concurrent use, but the writer calls it
// with its commit lock held, so lines arrive in chain order.
type Sink struct {
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	// lines[head:] are the queued whole lines; lines[:head] were taken for delivery (the batch under
	// way is a slice of them, so the array is reused only once it is delivered).
	lines    []byte
	head     int
	queued   int // lines in lines[head:]
	inFlight int // bytes taken for the delivery under way
	closed   bool
	// overflow counts the lines dropped since the last WARN about it, and overflowSeq is the seq of
	// the first of them.
	overflow    int
	overflowSeq string

	kick chan struct{} // capacity 1: a batch is full
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the goroutine has finished
	// ctx is every delivery's; Close cancels it when its timeout ends.
	ctx    context.Context
	cancel context.CancelFunc

	sent, dropped, failures atomic.Uint64
}

// New returns a sink and starts its goroutine; Close stops it.
func New(o Options) *Sink {
	if o.BatchRecords <= 0 {
		o.BatchRecords = DefaultBatchRecords
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.backoff <= 0 {
		o.backoff = time.Second
	}
	if o.maxBackoff <= 0 {
		o.maxBackoff = 30 * time.Second
	}
	s := &Sink{opts: o, log: o.Logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	go s.run()
	return s
}

// Name is the sink's name.
func (s *Sink) Name() string { return s.opts.Name }

// Stats returns the counts so far.
func (s *Sink) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Dropped: s.dropped.Load(), Failures: s.failures.Load()}
}

// Export queues lines (whole lines, each ending in a newline), copying them. It never blocks on the
// destination and wakes the sink's goroutine only when a batch is full.
func (s *Sink) Export(lines []byte) {
	s.mu.Lock()
	room := s.opts.QueueBytes - (len(s.lines) - s.head) - s.inFlight
	take := lines
	if s.closed {
		take = nil
	} else if len(take) > room {
		take = take[:bytes.LastIndexByte(take[:max(room, 0)], '\n')+1]
	}
	n := bytes.Count(take, newline)
	s.lines = append(s.lines, take...)
	s.queued += n
	if rest := lines[len(take):]; len(rest) > 0 {
		if s.overflow == 0 {
			s.overflowSeq = seqOf(rest)
		}
		dropped := bytes.Count(rest, newline)
		s.overflow += dropped
		s.dropped.Add(uint64(dropped))
	}
	full := s.queued >= s.opts.BatchRecords
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

var newline = []byte{'\n'}

// shutdownRetry is the pace of retries after Close.
const shutdownRetry = 100 * time.Millisecond

// Close delivers what is queued, for at most timeout, and stops the sink. What it could not deliver
// is dropped, counted and logged. Lines exported after Close are dropped.
func (s *Sink) Close(timeout time.Duration) {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	s.mu.Unlock()
	if first {
		time.AfterFunc(timeout, s.cancel)
		close(s.stop)
	}
	<-s.done
	s.cancel()
}

func (s *Sink) run() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.kick:
		case <-t.C:
		case <-s.stop:
			s.flush(s.ctx)
			s.mu.Lock()
			left := s.queued
			seq := seqOf(s.lines[s.head:])
			s.lines, s.head, s.queued = nil, 0, 0
			s.mu.Unlock()
			if left > 0 {
				s.dropped.Add(uint64(left))
				s.log.Warn("audit sink: lines not delivered before shutdown; they are in the local audit log",
					"sink", s.opts.Name, "lines", left, "first_seq", seq)
			}
			return
		}
		s.flush(s.ctx)
	}
}

// flush delivers the queue, batch by batch, until it is empty or ctx ends.
func (s *Sink) flush(ctx context.Context) {
	for ctx.Err() == nil {
		s.reportOverflow()
		body, n := s.take()
		if n == 0 {
			return
		}
		s.deliver(ctx, body, n)
		s.delivered()
	}
}

// delivered frees the batch that was under way: the space it took is reused once the queue is
// empty, or once the delivered part is at least half of the array (so a long backlog is moved
// down a few times, not once per batch).
func (s *Sink) delivered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = 0
	switch {
	case s.head == len(s.lines):
		s.lines, s.head = s.lines[:0], 0
	case s.head >= len(s.lines)/2:
		s.lines, s.head = s.lines[:copy(s.lines, s.lines[s.head:])], 0
	}
}

// take removes the next batch from the queue. The batch is a slice of the queue's array, which
// nothing writes over until delivered is called.
func (s *Sink) take() ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut, n := s.head, 0
	for n < s.opts.BatchRecords && cut < len(s.lines) {
		end := bytes.IndexByte(s.lines[cut:], '\n') + cut + 1
		if n > 0 && end-s.head > MaxBatchBytes {
			break
		}
		cut, n = end, n+1
	}
	if n == 0 {
		return nil, 0
	}
	body := s.lines[s.head:cut:cut]
	s.head = cut
	s.queued -= n
	s.inFlight = len(body)
	return body, n
}

// deliver sends one batch, retrying what may succeed later until ctx ends.
func (s *Sink) deliver(ctx context.Context, body []byte, n int) {
	wait := s.opts.backoff
	for attempt := 1; ; attempt++ {
		err := s.opts.Deliverer.Deliver(ctx, body, n)
		if err == nil {
			s.sent.Add(uint64(n))
			if attempt > 1 {
				s.log.Info("audit sink: delivering again", "sink", s.opts.Name, "attempts", attempt)
			}
			return
		}
		s.failures.Add(1)
		if webhook.Final(err) {
			s.dropped.Add(uint64(n))
			s.log.Error("audit sink: the receiver refused a batch; its lines are dropped (they are in the local audit log)",
				"sink", s.opts.Name, "lines", n, "first_seq", seqOf(body), "error", err)
			return
		}
		if ctx.Err() != nil {
			s.dropped.Add(uint64(n))
			s.log.Warn("audit sink: lines not delivered before shutdown; they are in the local audit log",
				"sink", s.opts.Name, "lines", n, "first_seq", seqOf(body))
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("audit sink: delivery failed; retrying", "sink", s.opts.Name, "attempts", attempt, "error", err)
		}
		// Once Close has come, retry at a short pace until its timeout ends (ctx); a Close that comes
		// during a long wait ends the wait.
		stop := s.stop
		select {
		case <-s.stop:
			wait, stop = min(wait, shutdownRetry), nil
		default:
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-stop:
		case <-t.C:
		}
		t.Stop()
		wait = min(2*wait, s.opts.maxBackoff)
	}
}

// reportOverflow logs the lines the full queue dropped since the last report.
func (s *Sink) reportOverflow() {
	s.mu.Lock()
	n, seq := s.overflow, s.overflowSeq
	s.overflow, s.overflowSeq = 0, ""
	s.mu.Unlock()
	if n > 0 {
		s.log.Warn("audit sink: queue full, lines dropped; they are in the local audit log",
			"sink", s.opts.Name, "lines", n, "first_seq", seq, "queue_bytes", s.opts.QueueBytes)
	}
}

// seqOf reads the seq of the first line: the canonical encoding begins {"v":N,"seq":N,.
func seqOf(lines []byte) string {
	_, rest, ok := bytes.Cut(lines, []byte(`,"seq":`))
	if !ok || bytes.IndexByte(lines[:len(lines)-len(rest)], '\n') >= 0 {
		return ""
	}
	i := 0
	for i < len(rest) && i < 20 && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if _, err := strconv.ParseUint(string(rest[:i]), 10, 64); err != nil {
		return ""
	}
	return string(rest[:i])
}
