// Package auditsink exports the audit log's lines to a SIEM (SPEC §12.5): to standard output or
// standard error as JSON Lines, or to a webhook in batches.
//
// A sink never replaces the local chained file and never delays it. The writer hands each sink the
// lines it has just made durable (Export), which copies them into a bounded queue and returns
// without waking anyone; the sink's own goroutine delivers the queue every flush interval, or at once
// when a batch is full. The lines are the file's, byte for byte, checkpoints and recovery records
// included, so a receiver can verify the chain itself. When the queue is full, new lines are
// dropped, counted and logged with the seq of the first one dropped: the local file keeps them, and
// the receiver sees a gap in seq.
package auditsink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// Deliverer sends one batch of whole lines.
type Deliverer interface {
	// Deliver sends body, records lines of the audit log. It may keep body (the sink never writes
	// to it again) and must return once ctx ends. An error for which webhook.Final is true drops
	// the batch, except that a webhook.StatusError 413 splits it; any other is retried with a
	// backoff until it succeeds or the sink's Close times out.
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

// chunkBytes is the size of the blocks the queue is kept in: a line is copied once, into the last
// block, and nothing queued is ever moved, so handing lines over costs the same with a long queue
// as with an empty one.
const chunkBytes = 64 << 10

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
// with a lock held, so lines arrive in chain order.
type Sink struct {
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	// chunks hold the queued lines, oldest first, each chunk whole lines; the first chunk's lines
	// start at off. A chunk is appended to only past its end, and dropped once taken whole, so the
	// lines of a batch being copied out or delivered are never written.
	chunks   [][]byte
	off      int
	queued   int // lines queued
	size     int // bytes queued
	inFlight int // bytes of the batch under way
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

var newline = []byte{'\n'}

// Export queues lines (whole lines, each ending in a newline), copying them. It never waits for the
// destination and wakes the sink's goroutine only when a batch is full.
func (s *Sink) Export(lines []byte) {
	s.mu.Lock()
	take := lines
	if room := s.opts.QueueBytes - s.size - s.inFlight; s.closed {
		take = nil
	} else if len(take) > room {
		take = take[:bytes.LastIndexByte(take[:max(room, 0)], '\n')+1]
	}
	if len(take) > 0 {
		last := len(s.chunks) - 1
		if last >= 0 && cap(s.chunks[last])-len(s.chunks[last]) >= len(take) {
			s.chunks[last] = append(s.chunks[last], take...)
		} else {
			s.chunks = append(s.chunks, append(make([]byte, 0, max(chunkBytes, len(take))), take...))
		}
		s.queued += bytes.Count(take, newline)
		s.size += len(take)
	}
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
			s.flush()
			s.reportOverflow()
			s.mu.Lock()
			left, seq := s.queued, ""
			if left > 0 {
				seq = seqOf(s.chunks[0][s.off:])
			}
			s.chunks, s.off, s.queued, s.size = nil, 0, 0, 0
			s.mu.Unlock()
			if left > 0 {
				s.dropped.Add(uint64(left))
				s.log.Warn("audit sink: lines not delivered before shutdown; they are in the local audit log",
					"sink", s.opts.Name, "lines", left, "first_seq", seq)
			}
			return
		}
		s.flush()
	}
}

// flush delivers the queue, batch by batch, until it is empty or Close's timeout ends.
func (s *Sink) flush() {
	for s.ctx.Err() == nil {
		s.reportOverflow()
		body, n := s.take()
		if n == 0 {
			return
		}
		s.deliver(body, n)
		s.mu.Lock()
		s.inFlight = 0
		s.mu.Unlock()
	}
}

// take removes the next batch from the queue and returns a copy of it.
func (s *Sink) take() ([]byte, int) {
	s.mu.Lock()
	var parts [][]byte
	total, n := 0, 0
	for n < s.opts.BatchRecords && len(s.chunks) > 0 {
		c := s.chunks[0][s.off:] // never empty: a chunk taken whole is dropped
		end, k := 0, 0
		for n+k < s.opts.BatchRecords && end < len(c) {
			next := end + bytes.IndexByte(c[end:], '\n') + 1
			if n+k > 0 && total+next > MaxBatchBytes {
				break
			}
			end, k = next, k+1
		}
		if k == 0 {
			break // the batch is full by size
		}
		parts = append(parts, c[:end])
		total, n = total+end, n+k
		if end < len(c) {
			s.off += end
			break
		}
		s.chunks, s.off = s.chunks[1:], 0
	}
	s.queued -= n
	s.size -= total
	s.inFlight = total
	s.mu.Unlock()
	// Copied outside the lock: these bytes are never written again (see chunks).
	body := make([]byte, 0, total)
	for _, p := range parts {
		body = append(body, p...)
	}
	return body, n
}

// deliver sends one batch, retrying what may succeed later until Close's timeout ends. A batch too
// large for the receiver (413) is sent again in halves.
func (s *Sink) deliver(body []byte, n int) {
	wait := s.opts.backoff
	for attempt := 1; ; attempt++ {
		err := s.opts.Deliverer.Deliver(s.ctx, body, n)
		if err == nil {
			s.sent.Add(uint64(n))
			if attempt > 1 {
				s.log.Info("audit sink: delivering again", "sink", s.opts.Name, "attempts", attempt)
			}
			return
		}
		s.failures.Add(1)
		var status *webhook.StatusError
		errors.As(err, &status)
		switch {
		case status != nil && status.Code == http.StatusRequestEntityTooLarge && n > 1:
			half := n / 2
			cut := 0
			for range half {
				cut += bytes.IndexByte(body[cut:], '\n') + 1
			}
			s.log.Warn("audit sink: the receiver refused a batch as too large; sending it in halves", "sink", s.opts.Name, "lines", n)
			s.deliver(body[:cut:cut], half)
			s.deliver(body[cut:], n-half)
			return
		case status != nil && (status.Code == http.StatusUnauthorized || status.Code == http.StatusForbidden):
			// A credential the receiver refuses may be accepted again (a token re-enabled, a
			// permission restored): keep the lines, and say so loudly.
			if attempt == 1 || attempt%10 == 0 {
				s.log.Error("audit sink: the receiver refuses gatehouse's credential; retrying", "sink", s.opts.Name, "attempts", attempt, "error", err)
			}
		case webhook.Final(err):
			s.dropped.Add(uint64(n))
			s.log.Error("audit sink: the receiver refused a batch; its lines are dropped (they are in the local audit log)",
				"sink", s.opts.Name, "lines", n, "first_seq", seqOf(body), "error", err)
			return
		default:
			if attempt == 1 || attempt%10 == 0 {
				s.log.Warn("audit sink: delivery failed; retrying", "sink", s.opts.Name, "attempts", attempt, "error", err)
			}
		}
		if s.ctx.Err() != nil {
			s.dropped.Add(uint64(n))
			s.log.Warn("audit sink: lines not delivered before shutdown; they are in the local audit log",
				"sink", s.opts.Name, "lines", n, "first_seq", seqOf(body))
			return
		}
		s.reportOverflow() // while the receiver is away, the queue fills: say so as it happens
		// Once Close has come, retry at a short pace until its timeout ends; a Close that comes
		// during a long wait ends the wait.
		stop := s.stop
		select {
		case <-s.stop:
			wait, stop = min(wait, shutdownRetry), nil
		default:
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
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
	first, _, _ := bytes.Cut(lines, newline)
	_, rest, ok := bytes.Cut(first, []byte(`,"seq":`))
	if !ok {
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
