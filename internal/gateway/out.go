package gateway

import (
	"bufio"
	"io"
	"log/slog"
	"sync"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// writer sends frames to the client in the order they were queued. A frame queued with an audit
// Pending is held until that record is durable (SPEC §12.2); if the record could not be written, the
// frame is replaced by its fallback, so a result never reaches the client without its audit record.
// Holding one frame holds the ones behind it, which keeps the client's view in the order the gateway
// decided.
type writer struct {
	// durable waits for an audit record (Gateway.durable, which also times it).
	durable func(*auditlog.Pending) error
	w       *bufio.Writer
	ch      chan outItem
	done    chan struct{}
	logger  *slog.Logger

	mu     sync.RWMutex
	closed bool
}

type outItem struct {
	frame    []byte
	durable  *auditlog.Pending
	fallback []byte
}

func newWriter(w io.Writer, durable func(*auditlog.Pending) error, logger *slog.Logger) *writer {
	return &writer{durable: durable, w: bufio.NewWriterSize(w, 64<<10), ch: make(chan outItem, 1024), done: make(chan struct{}), logger: logger}
}

// send queues a frame. durable and fallback may be nil. After close, frames are dropped: the client
// has gone, or the session is over.
func (w *writer) send(frame []byte, durable *auditlog.Pending, fallback []byte) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return
	}
	w.ch <- outItem{frame: frame, durable: durable, fallback: fallback}
}

// close stops accepting frames and returns once every queued frame is written. It may be called more
// than once.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	broken := false
	for it := range w.ch {
		frame := it.frame
		if it.durable != nil {
			if err := w.durable(it.durable); err != nil {
				w.logger.Error("audit record not written; withholding the answer", "error", err)
				frame = it.fallback
			}
		}
		if broken || frame == nil {
			continue
		}
		w.w.Write(frame)
		w.w.WriteByte('\n')
		if len(w.ch) == 0 {
			if err := w.w.Flush(); err != nil {
				// The client is gone. Keep draining so no producer blocks; there is no one to tell.
				w.logger.Warn("client output closed", "error", err)
				broken = true
			}
		}
	}
	w.w.Flush()
}
