package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
)

// consume handles the upstream's starts and exits in order until the supervisor stops. started is
// closed at the first start. Its output goes to upstreamFrame.
func (r *Relay) consume(ctx context.Context, started chan struct{}) {
	first := true
	for ev := range r.up.Events() {
		switch ev.Kind {
		case upstream.Started:
			r.started(ev.Gen)
			if first {
				close(started)
				first = false
			}
		case upstream.Frame, upstream.TooLong:
			r.upstreamFrame(ctx, ev, false)
		case upstream.Exited:
			r.exited(ev)
		}
	}
}

// upstreamFrame handles one message (or oversize line) from the upstream, in the goroutine that read
// it; more says whether further output is already waiting.
func (r *Relay) upstreamFrame(ctx context.Context, ev upstream.Event, more bool) {
	if ev.Kind == upstream.Frame {
		r.fromUpstream(ctx, ev.Frame, more)
		return
	}
	r.heard()
	id := jsonrpc.SalvageID(ev.Frame)
	r.g.logger.Error("upstream sent an oversize message", "upstream", r.sess.Upstream, "error", ev.Err)
	if ex := r.take(id.Key()); ex != nil && !id.IsZero() {
		r.answerUpstreamFault(ex, policy.CodePayloadTooLarge, ev.Err.Error())
	}
}

func (r *Relay) heard() {
	r.mu.Lock()
	r.lastHeard = time.Now()
	r.mu.Unlock()
}

// started makes a new process generation current. A process that replaces one a legacy client
// initialized is re-initialized first with the client's own handshake, so that the client's session
// survives the crash; until then requests are refused as unavailable.
func (r *Relay) started(gen int) {
	r.mu.Lock()
	r.gen, r.lastHeard, r.pingKey = gen, time.Now(), ""
	params, initialized := r.initParams, r.initialized
	if params == nil {
		r.ready = true
		r.mu.Unlock()
		return
	}
	id := r.nextInternalID()
	r.internal[id.Key()] = &internalRequest{sent: time.Now(), answer: func(m *jsonrpc.Message) {
		if m == nil || m.IsError() {
			r.g.logger.Error("restarted upstream refused the replayed initialize", "upstream", r.sess.Upstream, "gen", gen)
			r.up.Kill("re-initialization failed")
			return
		}
		if initialized {
			r.sendUp(gen, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
		}
		r.mu.Lock()
		if r.gen == gen {
			r.ready = true
		}
		r.mu.Unlock()
		r.g.logger.Info("restarted upstream re-initialized with the client's handshake", "upstream", r.sess.Upstream, "gen", gen)
	}}
	r.mu.Unlock()
	r.sendUp(gen, jsonrpc.Request(id, mcp.MethodInitialize, params))
}

// exited answers every request the dead process held.
func (r *Relay) exited(ev upstream.Event) {
	r.mu.Lock()
	r.ready = false
	var lost []*exchange
	for k, ex := range r.pending {
		if ex.gen <= ev.Gen {
			lost = append(lost, ex)
			delete(r.pending, k)
		}
	}
	// gatehouse's own requests died with the process; a restart starts them afresh. So did the
	// server's requests to the client: an answer to one must not reach the next process, which may
	// use the same ids.
	clear(r.internal)
	clear(r.fromServer)
	r.pingKey = ""
	r.mu.Unlock()
	for _, ex := range lost {
		r.unavailable(ex, true, "upstream exited; restarting in "+ev.Backoff.String())
	}
}

func (r *Relay) fromUpstream(ctx context.Context, line []byte, more bool) {
	r.heard()
	msg, err := jsonrpc.Parse(line, r.g.opts.Limits)
	if err != nil {
		var fe *jsonrpc.FrameError
		errors.As(err, &fe)
		if fe != nil && !fe.ID.IsZero() {
			if ex := r.take(fe.ID.Key()); ex != nil {
				why := "upstream sent an invalid message: " + fe.Detail
				if fe.Reason == policy.CodePayloadTooLarge { // over limits.max_tokens
					r.g.logger.Error("upstream sent an oversize message", "upstream", r.sess.Upstream, "error", fe.Detail)
					why = "the upstream's answer exceeds the message limit: " + fe.Detail
				}
				r.answerUpstreamFault(ex, fe.Reason, why)
				return
			}
		}
		// MCP servers must write only messages to stdout, but many print banners or debug lines.
		// That is noise to skip, not a reason to fail.
		r.g.logger.Warn("skipping non-MCP output from upstream", "upstream", r.sess.Upstream, "line", clip(line, 200))
		return
	}
	switch msg.Kind() {
	case jsonrpc.KindResponse:
		r.mu.Lock()
		ir := r.internal[msg.ID.Key()]
		delete(r.internal, msg.ID.Key())
		if msg.ID.Key() == r.pingKey {
			r.pingKey = ""
		}
		r.mu.Unlock()
		if ir != nil {
			ir.answer(msg)
			return
		}
		ex := r.take(msg.ID.Key())
		if ex == nil {
			r.g.logger.Debug("dropping a response to no pending request", "upstream", r.sess.Upstream, "id", logText(msg.ID.String()))
			return
		}
		if ex.call == nil {
			r.out.send(msg.Raw, held{})
			return
		}
		frame, o := r.g.respond(ctx, ex.call, msg, nil)
		o.Args, o.Upstream = ex.args, time.Since(ex.sent)
		if !more {
			// Nothing else from the upstream to handle: answer from here, committing the audit
			// record in this goroutine too. With more waiting, hand the answer to the writer, so
			// that the records of the next answers join this one's commit.
			r.out.sendNow(frame, held{r.g.record(ex.call, o), ex.id, ex.call.DecisionID})
			return
		}
		r.out.send(frame, held{r.g.record(ex.call, o), ex.id, ex.call.DecisionID})
	case jsonrpc.KindRequest:
		// A server-to-client request (sampling, elicitation, roots, ping): relay it and remember its
		// id so that only a genuine answer goes back.
		r.mu.Lock()
		full := len(r.fromServer) >= maxServerRequests
		if !full {
			r.fromServer[msg.ID.Key()] = true
		}
		gen := r.gen
		r.mu.Unlock()
		if full {
			r.g.logger.Warn("server request refused: too many are waiting for the client's answer", "upstream", r.sess.Upstream, "method", logText(msg.Method), "waiting", maxServerRequests)
			r.sendUp(gen, jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeInternalError, "too many requests are waiting for the client's answer", nil))
			return
		}
		r.out.send(msg.Raw, held{})
	case jsonrpc.KindNotification:
		r.out.send(msg.Raw, held{})
	}
}

// maxServerRequests bounds the server-to-client requests waiting for the client's answer.
const maxServerRequests = 1024

// answerUpstreamFault answers an exchange whose upstream answer was unusable.
func (r *Relay) answerUpstreamFault(ex *exchange, code policy.Code, why string) {
	if ex.call == nil {
		r.out.send(jsonrpc.Refusal(ex.id, jsonrpc.ErrorData{Reason: code, Detail: why}), held{})
		return
	}
	ex.call.Refuse("upstream", code, why)
	frame := refusal(ex.call)
	o := audit.Outcome{Status: audit.StatusUpstreamError, Args: ex.args, Result: frame, Upstream: time.Since(ex.sent)}
	r.out.send(frame, held{r.g.record(ex.call, o), ex.id, ex.call.DecisionID})
}

// watch enforces the request timeout and notices a hung upstream: when requests are in flight and the
// process has said nothing for HangAfter, it is pinged; if the ping goes unanswered for PingTimeout,
// the process is killed, which answers its requests with upstream_unavailable and restarts it.
func (r *Relay) watch(ctx context.Context) {
	tick := time.NewTicker(r.watchInterval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			r.check(now)
		}
	}
}

func (r *Relay) watchInterval() time.Duration {
	return max(min(r.g.opts.PingTimeout, r.g.opts.HangAfter, r.g.opts.RequestTimeout)/4, 10*time.Millisecond)
}

func (r *Relay) check(now time.Time) {
	o := &r.g.opts
	r.mu.Lock()
	var expired []*exchange
	oldest := now
	for k, ex := range r.pending {
		if now.Sub(ex.sent) > o.RequestTimeout {
			expired = append(expired, ex)
			delete(r.pending, k)
		} else if ex.sent.Before(oldest) {
			oldest = ex.sent
		}
	}
	silentSince := r.lastHeard
	if oldest.After(silentSince) {
		silentSince = oldest
	}
	// Any request of gatehouse's own (a liveness ping, a replayed handshake) left unanswered for
	// PingTimeout means the process is hung.
	hung := false
	for _, ir := range r.internal {
		if now.Sub(ir.sent) > o.PingTimeout {
			hung = true
		}
	}
	var ping jsonrpc.ID
	gen := r.gen
	if !hung && r.ready && len(r.pending) > 0 && r.pingKey == "" && now.Sub(silentSince) > o.HangAfter {
		ping = r.nextInternalID()
		r.pingKey = ping.Key()
		r.internal[ping.Key()] = &internalRequest{sent: now, answer: func(*jsonrpc.Message) {}}
	}
	r.mu.Unlock()

	for _, ex := range expired {
		r.unavailable(ex, true, "upstream did not answer within "+o.RequestTimeout.String())
		r.sendUp(ex.gen, cancelled(ex.id, "gatehouse request timeout"))
	}
	if !ping.IsZero() {
		r.g.logger.Warn("upstream silent with requests in flight; pinging", "upstream", r.sess.Upstream, "silent_for", now.Sub(silentSince).String())
		r.sendUp(gen, jsonrpc.Request(ping, mcp.MethodPing, nil))
	}
	if hung {
		r.up.Kill("no answer to gatehouse's own request within " + o.PingTimeout.String())
	}
}

// cancelled builds the notification telling the upstream to stop work on a request gatehouse has
// given up on.
func cancelled(id jsonrpc.ID, reason string) []byte {
	params := append([]byte(`{"requestId":`), id.Raw()...)
	params = append(params, `,"reason":`...)
	params = appendJSONString(params, reason)
	params = append(params, '}')
	b := []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":`)
	b = append(b, params...)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := encode(s)
	return append(b, q...)
}

// logText clips a name a peer chose (a method, a tool) for a log line.
func logText(s string) string { return redact.Clip(s, 200) }

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
