package auditsink

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// Stream writes batches to a stream: standard output or standard error, read by a log collector.
// A failed write is final (the reader is gone), so the batch is dropped rather than retried.
type Stream struct {
	W io.Writer
}

// Deliver writes body. A write the reader does not take blocks the sink, not the gateway; once ctx
// ends (Close's timeout) Deliver returns and leaves the write to its goroutine.
func (s Stream) Deliver(ctx context.Context, body []byte, _ int) error {
	done := make(chan error, 1)
	go func() {
		_, err := s.W.Write(body)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return &webhook.FinalError{Err: fmt.Errorf("write: %w", err)}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Event is the Gatehouse-Event of an audit sink's delivery.
const Event = "audit.records"

// ContentType is the Content-Type of an audit sink's delivery: the lines, one JSON record each.
const ContentType = "application/x-ndjson"

// Webhook posts batches to a URL (package webhook: signed when Secret is set, redirects not
// followed). A batch answered 5xx, 408 or 429, or not answered, is retried; one answered any other
// non-2xx status is dropped.
type Webhook struct {
	URL    string
	Secret []byte
	// Header holds further headers, e.g. the receiver's Authorization.
	Header http.Header
	Client *http.Client
	// Now is the clock of Gatehouse-Timestamp; nil is time.Now.
	Now func() time.Time
}

// Deliver posts body.
func (w *Webhook) Deliver(ctx context.Context, body []byte, _ int) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	return webhook.Post(ctx, w.Client, webhook.Delivery{URL: w.URL, Event: Event, ContentType: ContentType, Body: body, Secret: w.Secret, Header: w.Header}, now())
}
