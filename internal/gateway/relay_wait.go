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
		r.g.await(wctx, c, func(frame []byte) { r.out.send(frame, held{}) })
		r.mu.Lock()
		delete(r.waiting, key)
		cancelled := w.cancelled
		r.mu.Unlock()
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
		r.decided(msg, c)
	}()
}

// await runs c.Wait, telling the client of its progress through send when its request asked for
// progress notifications. A failure of the wait itself refuses the call with an internal error.
func (g *Gateway) await(ctx context.Context, c *pipeline.Call, send func(frame []byte)) {
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
	if ok {
		w.cancelled = true
		w.cancel()
	}
	return ok
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
