package approval

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Webhook tells a URL of every new hold (SPEC §10.3), from a goroutine of its own, so that a slow or
// failing receiver never delays a call. A delivery is a POST of
//
//	{"event": "approval.pending", "approval": {…the approval, arguments preview redacted, no params…}}
//
// with the headers Gatehouse-Event, Gatehouse-Timestamp (Unix seconds) and, with a secret,
// Gatehouse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">. A delivery answered 5xx or
// 429, or not answered, is tried 3 times in all; redirects are not followed.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	logger *slog.Logger
	queue  chan state.Approval
	now    func() time.Time
	backup time.Duration // the first retry's delay; doubled for the next
}

// webhookQueue bounds the holds waiting to be delivered; past it a hold is not announced (and a
// WARN says so), never a call delayed.
const webhookQueue = 256

// NewWebhook returns a webhook posting to url, signing with secret when it is not empty, each
// attempt bounded by timeout. Call Run to deliver.
func NewWebhook(url string, secret []byte, timeout time.Duration, logger *slog.Logger) *Webhook {
	return &Webhook{url: url, secret: secret, logger: logger, queue: make(chan state.Approval, webhookQueue), now: time.Now, backup: time.Second,
		client: &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Notify queues a for delivery. It never blocks.
func (w *Webhook) Notify(a state.Approval) {
	select {
	case w.queue <- a:
	default:
		w.logger.Warn("approval webhook: queue full, a new hold is not announced", "approval_id", a.ID)
	}
}

// Run delivers queued holds until ctx ends.
func (w *Webhook) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-w.queue:
			w.deliver(ctx, a)
		}
	}
}

func (w *Webhook) deliver(ctx context.Context, a state.Approval) {
	a.Params = "" // the whole call is for the approver, through the admin API; the preview goes out
	body, err := json.Marshal(map[string]any{"event": "approval.pending", "approval": a})
	if err != nil {
		w.logger.Error("approval webhook: cannot encode the approval", "approval_id", a.ID, "error", err)
		return
	}
	delay := w.backup
	for attempt := 1; ; attempt++ {
		err := w.post(ctx, body)
		if err == nil {
			return
		}
		var final *finalError
		if attempt == 3 || errors.As(err, &final) || ctx.Err() != nil {
			w.logger.Warn("approval webhook: the hold was not announced", "approval_id", a.ID, "attempts", attempt, "error", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// finalError is a failure not worth retrying: a request that cannot be made, or an answer 4xx
// other than 429.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }

func (w *Webhook) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &finalError{err}
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gatehouse-Event", "approval.pending")
	req.Header.Set("Gatehouse-Timestamp", ts)
	if len(w.secret) > 0 {
		req.Header.Set("Gatehouse-Signature", "sha256="+Sign(w.secret, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return &finalError{fmt.Errorf("answered %d", resp.StatusCode)}
}

// Sign is the hex HMAC-SHA256 a webhook delivery is signed with: over the timestamp, a '.', and the
// body, so a receiver can refuse a replayed delivery by its age.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
