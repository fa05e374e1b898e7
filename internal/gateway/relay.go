package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/lineloop"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
)

// Relay joins one stdio client to one supervised stdio upstream: the gatehouse run wrapper
// (SPEC §1.1). There is one client, so request ids pass through unchanged.
type Relay struct {
	g    *Gateway
	sess *Session
	up   *upstream.Stdio
	in   io.Reader
	out  *writer

	mu sync.Mutex
	// pending holds forwarded client requests by id key until their answer arrives.
	pending map[string]*exchange
	// fromServer holds the ids of server-to-client requests the client has yet to answer.
	fromServer map[string]bool
	// internal holds gatehouse's own requests to the upstream (liveness pings, replayed handshake).
	internal map[string]*internalRequest
	gen      int  // the process generation requests go to
	ready    bool // that process can take requests
	// initParams are the params of the client's legacy initialize, replayed to a restarted process so
	// it is in the state the client believes it is in.
	initParams  []byte
	initialized bool
	killed      bool
	lastHeard   time.Time
	pingKey     string
	seq         int
	// waiting holds the held requests waiting for a human's decision (SPEC §10.2), by id key.
	waiting map[string]*waiter
	waiters sync.WaitGroup
}

// waiter is a held request waiting for a decision: cancel ends its wait; cancelled records that
// the client cancelled it, so it gets no answer; over, that the wait has ended and its decision is
// being carried out.
type waiter struct {
	cancel    context.CancelFunc
	cancelled bool
	over      bool
}

// exchange is a forwarded request waiting for its answer. call is nil for requests relayed without a
// decision (ping).
type exchange struct {
	call *pipeline.Call
	id   jsonrpc.ID
	args []byte
	gen  int
	sent time.Time
}

type internalRequest struct {
	sent   time.Time
	answer func(*jsonrpc.Message) // nil message: the request failed
}

// NewRelay returns a relay between the client on in/out and up.
func (g *Gateway) NewRelay(sess *Session, up *upstream.Stdio, in io.Reader, out io.Writer) *Relay {
	return &Relay{
		g: g, sess: sess, up: up, in: in, out: newWriter(out, g.durable, g.logger),
		pending: map[string]*exchange{}, fromServer: map[string]bool{}, internal: map[string]*internalRequest{},
		waiting: map[string]*waiter{},
	}
}

// Run relays until the client hangs up or ctx ends. Then it lets in-flight requests finish (up to the
// drain timeout), answers any left with upstream_unavailable, writes every answer, and calls quiesced
// (which may be nil) before it stops the upstream: the caller seals the audit log there, so that a
// slow-to-die server cannot delay the seal past the point where the client kills gatehouse. Run fails
// only if the upstream cannot be started at all.
func (r *Relay) Run(ctx context.Context, quiesced func()) error {
	upCtx, stopUpstream := context.WithCancel(context.Background())
	defer stopUpstream()
	// Answers are handled in the goroutine that reads them from the upstream: no hand-off.
	r.up.HandleFrames(func(ev upstream.Event, more bool) { r.upstreamFrame(upCtx, ev, more) })
	// With EventLoop, one event loop reads both the client and the upstream (package lineloop).
	loop := r.startLoop()
	if loop != nil {
		defer loop.Close()
		r.up.ReadOn(loop)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- r.up.Run(upCtx) }()
	go r.out.run()

	started := make(chan struct{})
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		r.consume(upCtx, started)
	}()
	select {
	case <-started:
	case err := <-upDone:
		r.out.close()
		if err == nil {
			err = errors.New("upstream stopped before it started")
		}
		return err
	case <-ctx.Done():
		stopUpstream()
		<-eventsDone
		r.out.close()
		return <-upDone
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	go r.watch(watchCtx)
	clientDone := r.readClient(ctx, loop)
	select {
	case <-clientDone:
	case <-ctx.Done():
	}
	r.endWaits()
	r.drain()
	stopWatch()
	r.failAll("gateway is shutting down")
	r.out.close()
	if quiesced != nil {
		quiesced()
	}
	stopUpstream()
	<-eventsDone
	return <-upDone
}

// startLoop starts the event loop if the gateway is configured for one and the platform has it.
func (r *Relay) startLoop() *lineloop.Loop {
	if !r.g.opts.EventLoop {
		return nil
	}
	loop, err := lineloop.Start()
	if err != nil {
		r.g.logger.Warn("no event loop: reading client and upstream in goroutines of their own", "reason", err)
		return nil
	}
	return loop
}

// drain waits for in-flight requests to be answered, up to the drain timeout.
func (r *Relay) drain() {
	deadline := time.Now().Add(r.g.opts.DrainTimeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readClient starts reading the client's requests, on loop when it can, and returns a channel closed
// once the client has hung up.
func (r *Relay) readClient(ctx context.Context, loop *lineloop.Loop) <-chan struct{} {
	done := make(chan struct{})
	why := "no event loop"
	f, isFile := r.in.(*os.File)
	switch {
	case !isFile:
		why = "the input is not a file"
	case loop != nil:
		_, err := loop.Add(f, r.g.opts.Limits.MaxBytes, lineloop.Handler{
			Frame: func(line []byte, err error, _ bool) { r.clientFrame(ctx, line, err) },
			End: func(err error) {
				if err != nil && !errors.Is(err, lineloop.ErrClosed) {
					r.g.logger.Error("reading client input", "error", err)
				}
				close(done)
			},
		})
		if err == nil {
			return done
		}
		why = err.Error() // a regular file or /dev/null as input: epoll cannot watch it, and a read never waits
	}
	r.g.logger.Debug("reading client input in a goroutine of its own", "reason", why)
	go func() {
		defer close(done)
		lr := jsonrpc.NewLineReader(r.in, r.g.opts.Limits.MaxBytes)
		for {
			line, err := lr.Next()
			if err != nil && !errors.Is(err, jsonrpc.ErrTooLong) {
				if err != io.EOF {
					r.g.logger.Error("reading client input", "error", err)
				}
				return
			}
			r.clientFrame(ctx, line, err)
		}
	}()
	return done
}

// clientFrame handles one line from the client, or the *jsonrpc.LineTooLongError in its place.
func (r *Relay) clientFrame(ctx context.Context, line []byte, err error) {
	var tooLong *jsonrpc.LineTooLongError
	if !errors.As(err, &tooLong) {
		r.fromClient(ctx, line)
		return
	}
	fe := &jsonrpc.FrameError{Code: jsonrpc.CodeFor(policy.CodePayloadTooLarge), Reason: policy.CodePayloadTooLarge,
		Detail: tooLong.Error(), ID: jsonrpc.SalvageID(tooLong.Prefix)}
	frame, durable := r.g.recordFrameError(r.sess, fe, tooLong.Prefix)
	r.out.send(frame, held{durable, fe.ID, ""})
}

func (r *Relay) fromClient(ctx context.Context, line []byte) {
	msg, err := jsonrpc.Parse(line, r.g.opts.Limits)
	if err != nil {
		var fe *jsonrpc.FrameError
		if !errors.As(err, &fe) {
			fe = &jsonrpc.FrameError{Code: jsonrpc.CodeParseError, Reason: policy.CodeMalformed, Detail: err.Error()}
		}
		frame, durable := r.g.recordFrameError(r.sess, fe, line)
		r.out.send(frame, held{durable, fe.ID, ""})
		return
	}
	switch msg.Kind() {
	case jsonrpc.KindRequest:
		r.request(ctx, msg)
	case jsonrpc.KindNotification:
		r.mu.Lock()
		killed := r.killed
		if msg.Method == mcp.NotificationInitialized {
			r.initialized = true
		}
		gen := r.gen
		r.mu.Unlock()
		if killed {
			return // a killed session is refused everything; notifications have no one to tell
		}
		if msg.Method == mcp.NotificationCancelled && r.cancelWait(msg) {
			return // the upstream never saw the request
		}
		r.sendUp(gen, msg.Raw)
	case jsonrpc.KindResponse:
		r.mu.Lock()
		ok := r.fromServer[msg.ID.Key()]
		delete(r.fromServer, msg.ID.Key())
		gen := r.gen
		r.mu.Unlock()
		if !ok {
			r.g.logger.Warn("dropping a client response to a request the upstream did not send", "id", logText(msg.ID.String()))
			return
		}
		r.sendUp(gen, msg.Raw)
	}
}

func (r *Relay) sendUp(gen int, frame []byte) {
	if err := r.up.Send(gen, frame); err != nil {
		r.g.logger.Warn("could not relay to upstream", "upstream", r.sess.Upstream, "error", err)
	}
}

func (r *Relay) request(ctx context.Context, msg *jsonrpc.Message) {
	key := msg.ID.Key()
	r.mu.Lock()
	_, dup := r.pending[key]
	if _, w := r.waiting[key]; w {
		dup = true
	}
	killed := r.killed
	r.mu.Unlock()
	if dup {
		fe := &jsonrpc.FrameError{Code: jsonrpc.CodeInvalidRequest, Reason: policy.CodeMalformed,
			Detail: "a request with this id is already in flight", ID: msg.ID}
		frame, durable := r.g.recordFrameError(r.sess, fe, msg.Raw)
		r.out.send(frame, held{durable, msg.ID, ""})
		return
	}
	if msg.Method == mcp.MethodPing && !killed {
		// Liveness is not a policy question: a ping carries no data and every client sends them.
		r.forward(&exchange{id: msg.ID}, msg.Raw)
		return
	}
	c := r.g.decide(ctx, r.sess, msg)
	if c.Wait != nil {
		r.wait(ctx, msg, c)
		return
	}
	r.decided(ctx, msg, c)
}

// decided carries out the decision on a request: a refusal is answered, a call of one of
// gatehouse's own tools answered here, anything else forwarded.
func (r *Relay) decided(ctx context.Context, msg *jsonrpc.Message, c *pipeline.Call) {
	if c.Decision.Code == policy.CodeSessionKilled {
		r.mu.Lock()
		r.killed = true
		r.mu.Unlock()
	}
	if !c.Decision.Forwards() {
		frame := refusal(c)
		r.out.send(frame, held{r.g.record(c, audit.Outcome{Status: audit.StatusRefused, Args: previewArgs(c), Result: frame}), msg.ID, c.DecisionID})
		return
	}
	frame, args, err := r.g.outbound(c)
	if err != nil {
		r.g.logger.Error("request rewrite failed", "decision_id", c.DecisionID, "error", err)
		c.Decision.Abandon()
		c.Refuse("gateway", policy.CodePolicyError, "the policy's rewrite of the arguments could not be applied")
		frame := refusal(c)
		r.out.send(frame, held{r.g.record(c, audit.Outcome{Status: audit.StatusRefused, Args: previewArgs(c), Result: frame}), msg.ID, c.DecisionID})
		return
	}
	if msg.Method == mcp.MethodInitialize && !c.Request.Modern {
		r.rememberInitialize(msg, frame)
	}
	if _, local := r.g.localName(c.Input.Tool.Name); local && c.Input.Kind == mcp.MethodToolsCall {
		r.answerLocally(ctx, msg, c, frame, args)
		return
	}
	r.forward(&exchange{call: c, id: msg.ID, args: args}, frame)
}

// forward registers the exchange and sends its frame to the current process.
func (r *Relay) forward(ex *exchange, frame []byte) {
	key := ex.id.Key()
	r.mu.Lock()
	if !r.ready {
		r.mu.Unlock()
		r.unavailable(ex, false, "upstream is restarting")
		return
	}
	ex.gen, ex.sent = r.gen, time.Now()
	r.pending[key] = ex
	r.mu.Unlock()
	if err := r.up.Send(ex.gen, frame); err != nil {
		why := "upstream could not be reached"
		if errors.Is(err, upstream.ErrBacklogFull) {
			why = "upstream is not reading its input"
		}
		if r.take(key) == ex {
			r.unavailable(ex, false, why)
		}
	}
}

func (r *Relay) rememberInitialize(msg *jsonrpc.Message, frame []byte) {
	params := msg.Params
	if len(frame) != len(msg.Raw) || string(frame) != string(msg.Raw) {
		if m, err := jsonrpc.Parse(frame, r.g.opts.Limits); err == nil {
			params = m.Params
		}
	}
	r.mu.Lock()
	r.initParams = append([]byte(nil), params...)
	r.mu.Unlock()
}

// take removes and returns the pending exchange for key. Whoever takes an exchange answers it, so it
// is answered exactly once.
func (r *Relay) take(key string) *exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	ex := r.pending[key]
	delete(r.pending, key)
	return ex
}

// unavailable answers an exchange whose upstream went away. sent says whether its frame had been
// written to the upstream: a forwarded call counts against its budget even if its answer is lost, an
// unsent one gives its reservation back.
func (r *Relay) unavailable(ex *exchange, sent bool, why string) {
	if ex.call == nil {
		r.out.send(jsonrpc.Refusal(ex.id, jsonrpc.ErrorData{Reason: policy.CodeUpstreamUnavailable, Detail: why}), held{})
		return
	}
	if !sent {
		ex.call.Decision.Abandon()
	}
	ex.call.Refuse("upstream", policy.CodeUpstreamUnavailable, why)
	frame := refusal(ex.call)
	o := audit.Outcome{Status: audit.StatusUnavailable, Args: ex.args, Result: frame}
	if sent {
		o.Upstream = time.Since(ex.sent)
	}
	r.out.send(frame, held{r.g.record(ex.call, o), ex.id, ex.call.DecisionID})
}

// failAll answers every exchange still pending.
func (r *Relay) failAll(why string) {
	r.mu.Lock()
	exs := make([]*exchange, 0, len(r.pending))
	for k, ex := range r.pending {
		exs = append(exs, ex)
		delete(r.pending, k)
	}
	r.mu.Unlock()
	for _, ex := range exs {
		r.unavailable(ex, true, why)
	}
}

// auditFailed is the answer sent instead of a frame whose audit record could not be written.
func auditFailed(id jsonrpc.ID, decisionID string) []byte {
	return jsonrpc.Refusal(id, jsonrpc.ErrorData{Reason: policy.CodeAuditUnavailable,
		Detail: "the audit record could not be written, so the answer is withheld", DecisionID: decisionID})
}

func (r *Relay) nextInternalID() jsonrpc.ID {
	r.seq++
	return jsonrpc.StringID(fmt.Sprintf("gatehouse-%s-%d", r.sess.ID, r.seq))
}
