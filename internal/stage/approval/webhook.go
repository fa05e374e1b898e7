package approval

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// Webhook tells a URL of every new hold (SPEC §10.3), from a goroutine of its own, so that a slow or
// failing receiver never delays a call. A delivery is a POST of
//
//	{"event": "approval.pending", "approval": {…the approval, arguments preview redacted, no params…}}
//
// with the headers of package webhook (signed when there is a secret). A delivery answered 5xx, 408
// or 429, or not answered, is tried 3 times in all; redirects are not followed.
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
		client: webhook.Client(timeout)}
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
		if attempt == 3 || webhook.Final(err) || ctx.Err() != nil {
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

func (w *Webhook) post(ctx context.Context, body []byte) error {
	return webhook.Post(ctx, w.client, webhook.Delivery{URL: w.url, Event: "approval.pending", ContentType: "application/json", Body: body, Secret: w.secret}, w.now())
}
