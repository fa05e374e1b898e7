package gateway

import (
	"context"
	"encoding/json"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
)

// wait runs a held request's wait for a human (pipeline.Call.Wait) on a goroutine of its own, so
// that the client's other requests go on, and then carries out the decision it ends with. The
// client may cancel the wait with notifications/cancelled; a client that hangs up ends every wait.
// The request's id stays taken (waiting) until the decision has been carried out, so that a request
// reusing it is refused as a duplicate until then.
func (r *Relay) wait(ctx context.Context, msg *jsonrpc.Message, c *pipeline.Call) {
	key := msg.ID.Key()
	wctx, cancel := context.WithCancel(ctx)
	w := &waiter{cancel: cancel}
	r.mu.Lock()
	r.waiting[key] = w
	r.mu.Unlock()
	r.waiters.Add(1)
	go func() {
		defer r.waiters.Done()
		defer cancel()
		r.g.awaitHold(wctx, c, func(frame []byte) { r.out.send(frame, held{}) })
		r.mu.Lock()
		w.over = true
		cancelled := w.cancelled
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.waiting, key)
			r.mu.Unlock()
		}()
		if cancelled {
			// The client cancelled the request: it is recorded, and not answered (the MCP
			// cancellation rule), never forwarded.
			c.Decision.Abandon()
			if c.Decision.Forwards() {
				c.Refuse("approval", policy.CodeApprovalTimeout, "the client cancelled the request")
			}
			r.g.record(c, audit.Outcome{Status: audit.StatusRefused, Args: previewArgs(c)}).Detach()
			return
		}
		r.decided(ctx, msg, c)
	}()
}

// awaitHold writes the audit record of a held call's hold, durably, and then runs its wait
// (c.Wait), telling the client of its progress through send when its request asked for progress
// notifications. The outcome is a decision of its own, with a new decision id; the approval names
// the hold's. A hold that cannot be recorded is refused audit_unavailable, never waited for; a
// failure of the wait itself refuses the call with an internal error.
func (g *Gateway) awaitHold(ctx context.Context, c *pipeline.Call, send func(frame []byte)) {
	if err := g.durable(g.record(c, audit.Outcome{Status: audit.StatusHeld, Args: previewArgs(c)})); err != nil {
		g.logger.Error("the audit record of a hold could not be written; not waiting", "decision_id", c.DecisionID, "error", err)
		id := c.Decision.ApprovalID
		c.Refuse("audit", policy.CodeAuditUnavailable, "the hold could not be audited, so it is not waited for")
		c.Decision.ApprovalID = id
		return
	}
	c.DecisionID = newID("dec")
	var progress func(string)
	if token := mcp.ProgressToken(c.Msg.Params); token != nil {
		n := 0
		progress = func(m string) {
			n++
			send(mcp.Progress(token, n, m))
		}
	}
	if err := c.Wait(ctx, progress); err != nil {
		g.logger.Error("waiting for an approval failed", "decision_id", c.DecisionID, "error", err)
		c.Decision.Abandon()
		c.Refuse("gateway", policy.CodeInternal, "internal error "+c.DecisionID)
	}
}

// cancelWait ends the wait of the held request a notifications/cancelled names, and reports whether
// it named one.
func (r *Relay) cancelWait(msg *jsonrpc.Message) bool {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(msg.Params, &p) != nil {
		return false
	}
	key := requestIDKey(p.RequestID)
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.waiting[key]
	if !ok || w.over {
		return false // forwarded, or about to be: the upstream's to cancel
	}
	w.cancelled = true
	w.cancel()
	return true
}

// endWaits ends every wait (the client hung up, or gatehouse is stopping) and waits for the held
// requests to be recorded.
func (r *Relay) endWaits() {
	r.mu.Lock()
	for _, w := range r.waiting {
		w.cancel()
	}
	r.mu.Unlock()
	r.waiters.Wait()
}
