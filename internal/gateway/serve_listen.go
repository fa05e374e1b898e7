package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	upstreamhttp "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// subscriptions/listen (2026-07-28) is the era's one long-lived stream: the client opts in to
// list changes and resource updates, the server acknowledges what it will send
// (notifications/subscriptions/acknowledged, first on the stream) and then sends it, each
// notification tagged with the listen request's id, until either side closes the stream.
//
// Federated, gatehouse opens one listen stream to every upstream — a resource subscription only to
// the upstream that owns the resource — acknowledges the union of what they acknowledged, and
// relays every notification until the client goes away. A legacy upstream has no such request: its
// stream is emulated from what that era offers (listenLegacy, StdioUpstream.listen).

// notificationAcknowledged is the first message of a listen stream.
const notificationAcknowledged = "notifications/subscriptions/acknowledged"

// metaSubscriptionID tags a notification with the listen request it belongs to.
const metaSubscriptionID = "io.modelcontextprotocol/subscriptionId"

// listenAckTimeout bounds how long an upstream may take to acknowledge a listen request, setting up
// included (an emulated stream's handshake, subscriptions and GET). A variable for tests.
var listenAckTimeout = 30 * time.Second

// maxResourceSubscriptions bounds the resources one listen request may subscribe to: each is routed
// to its owner and, with a legacy server, costs a resources/subscribe of its own.
const maxResourceSubscriptions = 256

// subscriptions is what a listen request opts in to, or what a server acknowledged.
type subscriptions struct {
	ToolsListChanged      bool     `json:"toolsListChanged,omitempty"`
	PromptsListChanged    bool     `json:"promptsListChanged,omitempty"`
	ResourcesListChanged  bool     `json:"resourcesListChanged,omitempty"`
	ResourceSubscriptions []string `json:"resourceSubscriptions,omitempty"`
}

// readSubscriptions reads the notifications member of listen params (or of an acknowledgment).
func readSubscriptions(params []byte) subscriptions {
	var p struct {
		Notifications subscriptions `json:"notifications"`
	}
	json.Unmarshal(params, &p)
	return p.Notifications
}

// union is what either a or b covers.
func (a subscriptions) union(b subscriptions) subscriptions {
	a.ToolsListChanged = a.ToolsListChanged || b.ToolsListChanged
	a.PromptsListChanged = a.PromptsListChanged || b.PromptsListChanged
	a.ResourcesListChanged = a.ResourcesListChanged || b.ResourcesListChanged
	a.ResourceSubscriptions = append(append([]string(nil), a.ResourceSubscriptions...), b.ResourceSubscriptions...)
	return a
}

// honoredBy is the part of want that a legacy server declaring init's capabilities sends: the list
// changes it announces. Resource subscriptions are settled separately, one resources/subscribe each.
func (want subscriptions) honoredBy(init json.RawMessage) subscriptions {
	var r struct {
		Capabilities map[string]struct {
			ListChanged bool `json:"listChanged"`
		} `json:"capabilities"`
	}
	json.Unmarshal(init, &r)
	return subscriptions{
		ToolsListChanged:     want.ToolsListChanged && r.Capabilities["tools"].ListChanged,
		PromptsListChanged:   want.PromptsListChanged && r.Capabilities["prompts"].ListChanged,
		ResourcesListChanged: want.ResourcesListChanged && r.Capabilities["resources"].ListChanged,
	}
}

// canSubscribe reports a legacy server that declares resources/subscribe.
func canSubscribe(init json.RawMessage) bool {
	var r struct {
		Capabilities struct {
			Resources struct {
				Subscribe bool `json:"subscribe"`
			} `json:"resources"`
		} `json:"capabilities"`
	}
	json.Unmarshal(init, &r)
	return r.Capabilities.Resources.Subscribe
}

// wants reports whether a server notification is one s opted in to.
func (s subscriptions) wants(m *jsonrpc.Message) bool {
	switch m.Method {
	case "notifications/tools/list_changed":
		return s.ToolsListChanged
	case "notifications/prompts/list_changed":
		return s.PromptsListChanged
	case "notifications/resources/list_changed":
		return s.ResourcesListChanged
	case "notifications/resources/updated":
		var p struct {
			URI string `json:"uri"`
		}
		json.Unmarshal(m.Params, &p)
		for _, uri := range s.ResourceSubscriptions {
			if strings.HasPrefix(p.URI, uri) { // an update may name a sub-resource of the one subscribed
				return true
			}
		}
	}
	return false
}

// acknowledgment is the first message of a listen stream.
func acknowledgment(id jsonrpc.ID, s subscriptions, limits jsonrpc.Limits) (*jsonrpc.Message, error) {
	if s.ResourceSubscriptions == nil {
		s.ResourceSubscriptions = []string{}
	}
	n, _ := json.Marshal(s)
	params := `{"_meta":{"` + metaSubscriptionID + `":` + string(id.Raw()) + `},"notifications":` + string(n) + `}`
	return jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","method":"`+notificationAcknowledged+`","params":`+params+`}`), limits)
}

// tagged is a legacy notification as a listen stream carries it: with the listen request's id.
func tagged(m *jsonrpc.Message, id jsonrpc.ID, limits jsonrpc.Limits) (*jsonrpc.Message, error) {
	params := m.Params
	if len(params) == 0 {
		params = []byte("{}")
	}
	meta := []byte("{}")
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) == nil && p["_meta"] != nil {
		meta = p["_meta"]
	}
	meta, err := mcp.ReplaceMember(meta, metaSubscriptionID, id.Raw())
	if err != nil {
		return nil, err
	}
	if params, err = mcp.ReplaceMember(params, "_meta", meta); err != nil {
		return nil, err
	}
	return jsonrpc.Parse(m.WithParams(params), limits)
}

// listenStream is an emulated listen stream: the acknowledgment, then the notifications that come,
// until the client goes away (io.EOF).
type listenStream struct {
	ack  *jsonrpc.Message
	ch   <-chan *jsonrpc.Message
	ctx  context.Context
	done chan struct{}
	once sync.Once
	stop func()
}

func (s *listenStream) Next() (*jsonrpc.Message, error) {
	if m := s.ack; m != nil {
		s.ack = nil
		return m, nil
	}
	select {
	case m, ok := <-s.ch:
		if !ok {
			return nil, io.EOF
		}
		return m, nil
	case <-s.ctx.Done():
		return nil, io.EOF
	case <-s.done:
		return nil, io.EOF
	}
}

func (s *listenStream) Status() int     { return 200 }
func (s *listenStream) Streaming() bool { return true }
func (s *listenStream) Close() {
	s.once.Do(func() {
		close(s.done)
		if s.stop != nil {
			s.stop()
		}
	})
}

// listenLegacy emulates a listen stream with a legacy server: a session of its own (resource
// subscriptions belong to a session), resources/subscribe for each resource asked for, and the
// session's GET stream, whose notifications are relayed as the client opted in to them. The
// session is ended when the client goes away.
func (u *HTTPUpstream) listenLegacy(ctx context.Context, out *Outbound) (Stream, error) {
	m, err := jsonrpc.Parse(out.Frame, jsonrpc.Reread)
	if err != nil {
		return nil, err
	}
	want := readSubscriptions(m.Params)
	ctx, cancel := context.WithCancel(ctx)
	// Setting the stream up (the handshake, the subscriptions, the GET's answer) is bounded; the
	// stream then lives as long as the client wants it.
	setup := time.AfterFunc(listenAckTimeout, cancel)
	sess, init, err := u.handshake(ctx)
	if err != nil {
		setup.Stop()
		cancel()
		return nil, err
	}
	stop := func() {
		cancel()
		go func() {
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer dcancel()
			u.Client.Delete(dctx, sess.Session, sess.ProtocolVersion)
		}()
	}
	got := want.honoredBy(init)
	if canSubscribe(init) {
		for i, uri := range want.ResourceSubscriptions {
			q, _ := json.Marshal(map[string]string{"uri": uri})
			if u.sessionRequest(ctx, sess, jsonrpc.StringID(fmt.Sprintf("gatehouse-subscribe-%d", i)), mcp.MethodResourcesSubscribe, q) {
				got.ResourceSubscriptions = append(got.ResourceSubscriptions, uri)
			}
		}
	}
	ch := make(chan *jsonrpc.Message, 16)
	resp, err := u.Client.Get(ctx, sess.Session, sess.ProtocolVersion, "")
	if !setup.Stop() {
		if err == nil {
			resp.Close()
		}
		stop()
		return nil, fmt.Errorf("upstream %s: the listen stream was not set up within %s", u.UpstreamName, listenAckTimeout)
	}
	if err != nil || resp.Status != 200 {
		if resp != nil {
			resp.Close()
		}
		got = subscriptions{} // without the session's stream nothing can come
		close(ch)
	} else {
		go func() {
			defer close(ch)
			defer resp.Close()
			for {
				n, _, err := resp.Next()
				if err != nil {
					return
				}
				switch n.Kind() {
				case jsonrpc.KindRequest:
					if n.Method == mcp.MethodPing {
						u.answerInSession(sess, jsonrpc.Result(n.ID, []byte("{}")))
					} else {
						u.refuseServerRequest(ctx, sess, n)
					}
				case jsonrpc.KindNotification:
					if !got.wants(n) {
						continue
					}
					t, err := tagged(n, m.ID, u.Client.Limits)
					if err != nil {
						continue
					}
					select {
					case ch <- t:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	ack, err := acknowledgment(m.ID, got, u.Client.Limits)
	if err != nil {
		stop()
		return nil, err
	}
	return &listenStream{ack: ack, ch: ch, ctx: ctx, done: make(chan struct{}), stop: stop}, nil
}

// sessionRequest sends one request of gatehouse's own in a session and reports a result.
func (u *HTTPUpstream) sessionRequest(ctx context.Context, sess *Link, id jsonrpc.ID, method string, params []byte) bool {
	resp, err := u.Client.Post(ctx, &upstreamhttp.Request{Frame: jsonrpc.Request(id, method, params), Session: sess.Session, ProtocolVersion: sess.ProtocolVersion})
	if err != nil {
		return false
	}
	defer resp.Close()
	for {
		m, _, err := resp.Next()
		if err != nil {
			return false
		}
		if m.Kind() == jsonrpc.KindResponse && m.ID.Key() == id.Key() {
			return !m.IsError()
		}
	}
}

// answerInSession sends gatehouse's answer to a server's request in a session.
func (u *HTTPUpstream) answerInSession(sess *Link, frame []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := u.Client.Post(ctx, &upstreamhttp.Request{Frame: frame, Session: sess.Session, ProtocolVersion: sess.ProtocolVersion}); err == nil {
		r.Close()
	}
}

// listen emulates a listen stream with a shared stdio server: the list changes it announces, from
// the notifications it sends to no request in particular. Resource subscriptions are not taken: the
// process is shared, and a subscription one client opened would reach every client.
func (u *StdioUpstream) listen(ctx context.Context, m *jsonrpc.Message, init json.RawMessage) (Stream, error) {
	got := readSubscriptions(m.Params).honoredBy(init)
	ack, err := acknowledgment(m.ID, got, u.limits)
	if err != nil {
		return nil, err
	}
	ch := make(chan *jsonrpc.Message, 16)
	u.mu.Lock()
	u.nextSink++
	n := u.nextSink
	u.listeners[n] = func(raw []byte) {
		note, err := jsonrpc.Parse(raw, u.limits)
		if err != nil || !got.wants(note) {
			return
		}
		if t, err := tagged(note, m.ID, u.limits); err == nil {
			select {
			case ch <- t:
			default: // a slow client loses a list change, not the stream
			}
		}
	}
	u.mu.Unlock()
	stop := func() {
		u.mu.Lock()
		delete(u.listeners, n)
		u.mu.Unlock()
	}
	return &listenStream{ack: ack, ch: ch, ctx: ctx, done: make(chan struct{}), stop: stop}, nil
}

// listenAll opens a listen stream to every upstream and relays them as one (SPEC §2.5): one
// acknowledgment, the union of the upstreams', then every notification, until the client goes
// away. frame is the request as policy let it through.
func (s *Server) listenAll(ctx context.Context, ex *streamable.Exchange, c *pipeline.Call, targets []target, frame, args []byte, ans streamable.Answer) {
	start := time.Now()
	base, err := jsonrpc.Parse(frame, s.g.outboundLimits())
	if err != nil {
		s.unavailable(ctx, c, ans, err)
		return
	}
	want := readSubscriptions(base.Params)
	owned := s.subscriptionsByOwner(want.ResourceSubscriptions)
	frames := make([][]byte, len(targets))
	for i, t := range targets {
		mine := want
		mine.ResourceSubscriptions = owned[t.up]
		n, _ := json.Marshal(mine)
		params, err := mcp.ReplaceMember(base.Params, "notifications", n)
		if err != nil {
			s.unavailable(ctx, c, ans, err)
			return
		}
		frames[i] = base.WithParams(params)
	}
	type opened struct {
		up     Upstream
		st     Stream
		ack    subscriptions
		cancel context.CancelFunc
	}
	streams := make([]*opened, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, ack, cancel, err := s.openListen(ctx, ex, t.up, frames[i])
			if err != nil {
				s.g.logger.Warn("upstream left out of a subscriptions/listen stream", "upstream", t.up.Name(), "error", err)
				return
			}
			streams[i] = &opened{up: t.up, st: st, ack: ack, cancel: cancel}
		}()
	}
	wg.Wait()
	var live []*opened
	var acked subscriptions
	for _, o := range streams {
		if o != nil {
			live = append(live, o)
			acked = acked.union(o.ack)
		}
	}
	if len(live) == 0 {
		s.unavailable(ctx, c, ans, fmt.Errorf("no upstream opened a subscriptions/listen stream"))
		return
	}
	ack, err := acknowledgment(ex.Msg.ID, acked, s.g.opts.Limits)
	if err != nil {
		for _, o := range live { // ends what each opened: a stdio listener, a legacy session
			o.st.Close()
			o.cancel()
		}
		s.unavailable(ctx, c, ans, err)
		return
	}
	ans.Stream()
	ans.Send(ack.Raw)
	var relay sync.WaitGroup
	for _, o := range live {
		relay.Add(1)
		go func() {
			defer relay.Done()
			defer o.cancel()
			defer o.st.Close()
			for {
				m, err := o.st.Next()
				if err != nil {
					if err != io.EOF && ctx.Err() == nil {
						s.g.logger.Warn("upstream subscriptions/listen stream ended", "upstream", o.up.Name(), "error", err)
					}
					return
				}
				switch m.Kind() {
				case jsonrpc.KindNotification:
					ans.Send(s.prefixNotification(o.up, m))
				case jsonrpc.KindResponse:
					if m.ID.Key() == ex.Msg.ID.Key() {
						return // this upstream ended its subscription
					}
				}
			}
		}()
	}
	relay.Wait()
	if ctx.Err() != nil { // the client went away: nobody to answer
		s.g.durable(s.g.record(c, audit.Outcome{Status: audit.StatusAnswered, Args: args, Upstream: time.Since(start)}))
		return
	}
	// Every upstream ended its stream: so does gatehouse, with the result that says so.
	end := jsonrpc.Result(ex.Msg.ID, []byte(`{"resultType":"complete","_meta":{}}`))
	s.finish(c, ans, end, 200, audit.Outcome{Status: audit.StatusAnswered, Args: args, Upstream: time.Since(start)})
}

// openListen sends a listen request to one upstream and waits for its acknowledgment. The stream
// lives until cancel.
func (s *Server) openListen(ctx context.Context, ex *streamable.Exchange, up Upstream, frame []byte) (Stream, subscriptions, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(ctx)
	// The request and its acknowledgment are bounded together: Send may set a stream up first (an
	// emulated one's handshake and subscriptions). Ending the request unblocks both.
	timer := time.AfterFunc(listenAckTimeout, cancel)
	defer timer.Stop()
	st, err := up.Send(ctx, s.link(ex, up), &Outbound{Frame: frame, Msg: ex.Msg, Modern: ex.Modern, ProtocolVersion: ex.ProtocolVersion, Params: ex.Params, Tenant: ex.Tenant, Client: clientKey(ex)})
	if err != nil {
		cancel()
		return nil, subscriptions{}, nil, err
	}
	fail := func(err error) (Stream, subscriptions, context.CancelFunc, error) {
		st.Close()
		cancel()
		return nil, subscriptions{}, nil, err
	}
	for {
		m, err := st.Next()
		if err != nil {
			return fail(fmt.Errorf("no acknowledgment: %w", err))
		}
		switch {
		case m.Kind() == jsonrpc.KindNotification && m.Method == notificationAcknowledged:
			return st, readSubscriptions(m.Params), cancel, nil
		case m.Kind() == jsonrpc.KindResponse && m.ID.Key() == ex.Msg.ID.Key():
			return fail(fmt.Errorf("answered instead of acknowledging: %s", clip(m.Raw, 300)))
		}
	}
}

// subscriptionsByOwner sorts the resources a listen request subscribes to by the upstream that owns
// each, resolving each URI once; a URI no upstream owns is left out.
func (s *Server) subscriptionsByOwner(uris []string) map[Upstream][]string {
	out := map[Upstream][]string{}
	seen := make(map[string]bool, len(uris))
	for _, uri := range uris {
		if seen[uri] {
			continue
		}
		seen[uri] = true
		if up := s.owner(uri); up != nil {
			out[up] = append(out[up], uri)
		}
	}
	return out
}
