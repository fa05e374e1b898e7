package gateway

import (
	"bufio"
	"io"
	"log/slog"
	"sync"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// maxQueuedFrames and maxQueuedBytes bound the frames waiting for a client that reads slowly;
// senders block beyond either. A frame is queued whatever its size when the queue is empty.
const (
	maxQueuedFrames = 1024
	maxQueuedBytes  = 64 << 20
)

// writer sends frames to the client in the order they were queued. A frame queued with an audit
// Pending is held until that record is durable (SPEC §12.2); if the record could not be written, the
// frame is replaced by its fallback, so a result never reaches the client without its audit record.
// Holding one frame holds the ones behind it, which keeps the client's view in the order the gateway
// decided.
//
// Frames are written by the writer's goroutine, or by the sender itself (sendNow) when nothing is
// queued or being written: an answer then reaches the client without a hand-off between goroutines,
// each of which costs a thread wake-up on an idle gateway.
type writer struct {
	// durable waits for an audit record (Gateway.durable, which also times it).
	durable func(*auditlog.Pending) error
	w       *bufio.Writer
	logger  *slog.Logger
	wake    chan struct{} // capacity 1: "look at the queue"
	done    chan struct{}

	mu      sync.Mutex
	notFull *sync.Cond
	queue   []outItem
	queued  int  // bytes of the frames in queue
	maxSize int  // maxQueuedBytes; lower in tests
	busy    bool // a frame is being written, by the goroutine or by a sender
	closed  bool
	broken  bool // the client's output failed; frames are dropped
}

type outItem struct {
	frame []byte
	rec   held
}

// held is the audit record a frame waits for. If the record cannot be written, the frame is replaced
// by an audit_unavailable refusal to id, naming decisionID; that refusal is built only then. The zero
// held is no record: the frame goes out at once.
type held struct {
	pending    *auditlog.Pending
	id         jsonrpc.ID
	decisionID string
}

func newWriter(w io.Writer, durable func(*auditlog.Pending) error, logger *slog.Logger) *writer {
	wr := &writer{durable: durable, w: bufio.NewWriterSize(w, 64<<10), wake: make(chan struct{}, 1), done: make(chan struct{}), logger: logger,
		maxSize: maxQueuedBytes}
	wr.notFull = sync.NewCond(&wr.mu)
	return wr
}

// send queues a frame for the writer's goroutine. After close, frames are dropped: the client has
// gone, or the session is over.
func (w *writer) send(frame []byte, rec held) {
	w.mu.Lock()
	for (len(w.queue) >= maxQueuedFrames || len(w.queue) > 0 && w.queued+len(frame) > w.maxSize) && !w.closed {
		w.notFull.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		if rec.pending != nil {
			rec.pending.Detach() // the frame is dropped, but its record is still written
		}
		return
	}
	w.queue = append(w.queue, outItem{frame: frame, rec: rec})
	w.queued += len(frame)
	w.mu.Unlock()
	w.signal()
}

// sendNow writes a frame in the calling goroutine when nothing is queued or being written, waiting
// for its record there; otherwise it queues the frame like send.
func (w *writer) sendNow(frame []byte, rec held) {
	w.mu.Lock()
	if w.closed || w.busy || len(w.queue) > 0 {
		w.mu.Unlock()
		w.send(frame, rec)
		return
	}
	w.busy = true
	w.mu.Unlock()
	w.write(outItem{frame: frame, rec: rec}, true)
	w.mu.Lock()
	w.busy = false
	more := len(w.queue) > 0 || w.closed
	w.mu.Unlock()
	if more {
		w.signal() // the goroutine may have found us busy
	}
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// write writes one frame (or its fallback), flushing when flush is set. Only the holder of busy calls it.
func (w *writer) write(it outItem, flush bool) {
	frame := it.frame
	if it.rec.pending != nil {
		if err := w.durable(it.rec.pending); err != nil {
			w.logger.Error("audit record not written; withholding the answer", "error", err)
			frame = auditFailed(it.rec.id, it.rec.decisionID)
		}
	}
	if w.broken || frame == nil {
		return
	}
	w.w.Write(frame)
	w.w.WriteByte('\n')
	if flush {
		if err := w.w.Flush(); err != nil {
			// The client is gone. Keep draining so no producer blocks; there is no one to tell.
			w.logger.Warn("client output closed", "error", err)
			w.broken = true
		}
	}
}

// close stops accepting frames and returns once every queued frame is written. It may be called more
// than once.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.notFull.Broadcast()
	w.mu.Unlock()
	w.signal()
	<-w.done
}

// run writes queued frames until close, then the ones still queued.
func (w *writer) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		if w.busy || len(w.queue) == 0 {
			closed := w.closed && !w.busy
			w.mu.Unlock()
			if closed {
				w.w.Flush()
				return
			}
			<-w.wake
			continue
		}
		it := w.queue[0]
		w.queue[0] = outItem{}
		w.queue = w.queue[1:]
		w.queued -= len(it.frame)
		last := len(w.queue) == 0
		w.busy = true
		w.notFull.Signal()
		w.mu.Unlock()
		w.write(it, last)
		w.mu.Lock()
		w.busy = false
		w.mu.Unlock()
	}
}
