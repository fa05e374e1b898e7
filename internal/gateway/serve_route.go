package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
)

// fanOutMethods go to every upstream and have their answers merged (a listen request: their
// streams, listenAll).
var fanOutMethods = map[string]bool{
	mcp.MethodInitialize: true, mcp.MethodDiscover: true, mcp.MethodToolsList: true, mcp.MethodPromptsList: true,
	mcp.MethodResourcesList: true, mcp.MethodResourcesTemplateList: true, "logging/setLevel": true,
	mcp.MethodSubscriptionsListen: true,
}

// federated reports a method whose answer several upstreams make together: even when only one of
// them is asked (a later page of a merged list), its answer is merged.
func (s *Server) federated(method string) bool {
	return len(s.opts.Upstreams) > 1 && fanOutMethods[method]
}

// route finds the upstream(s) a message goes to. With one unprefixed upstream every message goes
// to it unchanged: gatehouse is then invisible (SPEC §2.2).
func (s *Server) route(msg *jsonrpc.Message) ([]target, error) {
	ups := s.opts.Upstreams
	if msg.Method == mcp.MethodSubscriptionsListen {
		if n := len(readSubscriptions(msg.Params).ResourceSubscriptions); n > maxResourceSubscriptions {
			return nil, &errNoRoute{fmt.Sprintf("subscriptions/listen asks for %d resource subscriptions; at most %d are allowed per request", n, maxResourceSubscriptions)}
		}
	}
	if len(ups) == 1 && ups[0].Prefix() == "" {
		req, _ := mcp.Decode(msg)
		name := ""
		if req != nil {
			name = req.Name
			if req.URI != "" {
				name = req.URI
			}
		}
		return []target{{up: ups[0], frame: msg.Raw, name: name}}, nil
	}
	if _, list := mcp.ListingFor(msg.Method); list && s.federated(msg.Method) {
		return s.routePage(msg)
	}
	if fanOutMethods[msg.Method] {
		out := make([]target, len(ups))
		for i, u := range ups {
			out[i] = target{up: u, frame: msg.Raw}
		}
		return out, nil
	}
	req, err := mcp.Decode(msg)
	if err != nil {
		return nil, &errNoRoute{err.Error()}
	}
	switch msg.Method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		u, name, ok := s.byName(req.Name)
		if !ok {
			return nil, &errNoRoute{fmt.Sprintf("unknown %s %q", strings.TrimSuffix(strings.Split(msg.Method, "/")[0], "s"), req.Name)}
		}
		return []target{{up: u, name: name}}, nil
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		u := s.owner(req.URI)
		if u == nil {
			return nil, &errNoRoute{fmt.Sprintf("unknown resource %q", req.URI)}
		}
		return []target{{up: u, frame: msg.Raw, name: req.URI}}, nil
	case mcp.MethodCompletionComplete:
		return s.routeCompletion(msg)
	}
	if s.unprefixed != nil {
		return []target{{up: s.unprefixed, frame: msg.Raw}}, nil
	}
	return nil, &errNoRoute{fmt.Sprintf("method %q cannot be routed to one of several upstreams", msg.Method)}
}

// byName finds the upstream of a namespaced tool or prompt name and the name it has there.
func (s *Server) byName(name string) (Upstream, string, bool) {
	for _, u := range s.opts.Upstreams {
		if p := u.Prefix(); p != "" {
			if rest, ok := strings.CutPrefix(name, p+s.opts.Separator); ok && rest != "" {
				return u, rest, true
			}
		}
	}
	if s.unprefixed != nil {
		return s.unprefixed, name, true
	}
	return nil, "", false
}

// ownerName names the upstream a listed item comes from: a tool or prompt by its prefix, a resource
// by the upstream that listed it. "" when none is known.
func (s *Server) ownerName(item string) string {
	if u, _, ok := s.byName(item); ok {
		return u.Name()
	}
	if u := s.owner(item); u != nil {
		return u.Name()
	}
	return ""
}

// owner finds the upstream of a resource URI: the one that listed it, else the one with the
// template matching it with the longest literal prefix (the first in configuration order among
// equals), else the unprefixed upstream.
func (s *Server) owner(uri string) Upstream {
	if up, ok := s.owners.lookup(uri); ok {
		return up
	}
	return s.unprefixed
}

// rank is an upstream's place in the configuration.
func (s *Server) rank(up Upstream) int {
	for i, u := range s.opts.Upstreams {
		if u == up {
			return i
		}
	}
	return len(s.opts.Upstreams)
}

// claim records that e's upstream lists a resource URI or template, and logs a clash once.
func (s *Server) claim(key string, e ownerEntry) {
	if first, other, clash := s.owners.claim(key, e); clash {
		s.g.logger.Warn("two upstreams list the same resource; it is read from the first in configuration order",
			"resource", logText(key), "upstream", first.up.Name(), "also_listed_by", other.up.Name())
	}
}

func (s *Server) routeCompletion(msg *jsonrpc.Message) ([]target, error) {
	var p struct {
		Ref struct {
			Type string `json:"type"`
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"ref"`
	}
	if err := json.Unmarshal(msg.Params, &p); err != nil {
		return nil, &errNoRoute{"completion/complete needs a ref"}
	}
	if p.Ref.Type == "ref/resource" {
		if u := s.owner(p.Ref.URI); u != nil {
			return []target{{up: u, frame: msg.Raw}}, nil
		}
		return nil, &errNoRoute{fmt.Sprintf("unknown resource %q", p.Ref.URI)}
	}
	u, name, ok := s.byName(p.Ref.Name)
	if !ok {
		return nil, &errNoRoute{fmt.Sprintf("unknown prompt %q", p.Ref.Name)}
	}
	ref, _ := json.Marshal(map[string]string{"type": p.Ref.Type, "name": name})
	params, err := mcp.ReplaceMember(msg.Params, "ref", ref)
	if err != nil {
		return nil, &errNoRoute{err.Error()}
	}
	return []target{{up: u, frame: msg.WithParams(params)}}, nil
}

// rewriteName returns frame with params.name set to the name the upstream knows (the namespace
// stripped). frame may be a policy's rewrite of the original.
func (s *Server) rewriteName(frame []byte, method string, t target) ([]byte, error) {
	m, err := jsonrpc.Parse(frame, s.g.outboundLimits())
	if err != nil {
		return nil, err
	}
	if (method != mcp.MethodToolsCall && method != mcp.MethodPromptsGet) || t.up.Prefix() == "" {
		return frame, nil
	}
	name, _ := json.Marshal(t.name)
	params, err := mcp.ReplaceMember(m.Params, "name", name)
	if err != nil {
		return nil, err
	}
	return m.WithParams(params), nil
}

// prefixList renames the items of a list result from a prefixed upstream into its namespace: tools,
// prompts and resource templates (SPEC §2.5). Nothing addresses a template by its name — reads and
// completions name its URI — so no request needs the name mapped back.
func (s *Server) prefixList(kind string, up Upstream, m *jsonrpc.Message) (*jsonrpc.Message, error) {
	member := ""
	switch kind {
	case mcp.MethodToolsList:
		member = "tools"
	case mcp.MethodPromptsList:
		member = "prompts"
	case mcp.MethodResourcesTemplateList:
		member = "resourceTemplates" // the name is namespaced; the uriTemplate, which reads match, is not
	default:
		return m, nil
	}
	if up.Prefix() == "" {
		return m, nil // mounted unprefixed: its names pass through unchanged
	}
	var result map[string]json.RawMessage
	if err := json.Unmarshal(m.Result, &result); err != nil {
		return nil, err
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(result[member], &items); err != nil {
		return nil, err
	}
	for _, it := range items {
		var name string
		json.Unmarshal(it["name"], &name)
		it["name"], _ = json.Marshal(up.Prefix() + s.opts.Separator + name)
	}
	list, _ := json.Marshal(items)
	out, err := mcp.ReplaceMember(m.Result, member, list)
	if err != nil {
		return nil, err
	}
	return jsonrpc.Parse(m.WithResult(out), s.g.opts.Limits)
}

// learnOwners remembers which upstream listed which resources and templates, for routing reads.
func (s *Server) learnOwners(kind string, up Upstream, m *jsonrpc.Message) {
	l, _ := mcp.ListingFor(kind)
	if l.Use != mcp.MethodResourcesRead {
		return
	}
	e := ownerEntry{up: up, rank: s.rank(up)}
	mcp.FilterList(m.Result, l, func(uri string) bool {
		s.claim(uri, e)
		return true
	})
}

// prefixNotification passes a notification from an upstream to the client. Notifications carry no
// names that need namespacing today (list_changed, progress, message, resources/updated).
func (s *Server) prefixNotification(up Upstream, m *jsonrpc.Message) []byte { return m.Raw }

// fromServer relays a server-to-client request and remembers which upstream sent it, so the
// client's answer goes back there. With several upstreams the id is namespaced, because two
// upstreams may use the same id.
func (s *Server) fromServer(ex *streamable.Exchange, up Upstream, m *jsonrpc.Message) []byte {
	st := s.state(ex.Session)
	if st == nil {
		return m.Raw
	}
	frame, key := m.Raw, m.ID.Key()
	if len(s.opts.Upstreams) > 1 {
		id := jsonrpc.StringID(up.Name() + "/" + m.ID.String())
		frame, key = retagRequest(m, id), id.Key()
	}
	st.mu.Lock()
	st.serverReqs[key] = serverRequest{upstream: up, id: m.ID}
	st.mu.Unlock()
	return frame
}

// retagRequest returns a request frame with a new id.
func retagRequest(m *jsonrpc.Message, id jsonrpc.ID) []byte {
	return jsonrpc.Request(id, m.Method, m.Params)
}

// initialized records what the upstream agreed to in a legacy handshake. With one upstream that is
// also the session's version; a fanned-out initialize sets the session's version from the merged
// answer (mergeServerInfo), so concurrent upstreams never race to set it.
func (s *Server) initialized(ex *streamable.Exchange, l *Link, m *jsonrpc.Message, only bool) {
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(m.Result, &r) == nil && r.ProtocolVersion != "" {
		l.mu.Lock()
		l.ProtocolVersion = r.ProtocolVersion
		l.mu.Unlock()
		if only {
			ex.Session.ProtocolVersion = r.ProtocolVersion
		}
	}
}

// fanOut sends a request to every upstream and merges their answers (federation, SPEC §2.5).
func (s *Server) fanOut(ctx context.Context, ex *streamable.Exchange, c *pipeline.Call, targets []target, args []byte, ans streamable.Answer) {
	start := time.Now()
	results := make([]*jsonrpc.Message, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.collect(ctx, ex, t)
		}()
	}
	wg.Wait()
	var ok []int
	for i, m := range results {
		if m == nil || m.IsError() {
			why := "no answer"
			if m != nil {
				why = string(m.Error)
			}
			s.g.logger.Warn("upstream left out of a merged answer", "upstream", targets[i].up.Name(), "method", logText(ex.Msg.Method), "error", clip([]byte(why), 300))
			continue
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		s.unavailable(ctx, c, ans, fmt.Errorf("no upstream answered %s", ex.Msg.Method))
		return
	}
	merged, err := s.merge(ex, targets, results, ok)
	if err != nil {
		s.unavailable(ctx, c, ans, err)
		return
	}
	s.answer(ctx, ex, c, nil, merged, http.StatusOK, args, time.Since(start), ans)
}

// collect sends one fanned-out request and returns the upstream's response with its list items
// renamed into the upstream's namespace, or nil.
func (s *Server) collect(ctx context.Context, ex *streamable.Exchange, t target) *jsonrpc.Message {
	ctx, cancel := bounded(ctx, t.up, ex.Msg.Method)
	defer cancel()
	l := s.link(ex, t.up)
	st, err := t.up.Send(ctx, l, &Outbound{Frame: t.frame, Msg: ex.Msg, Modern: ex.Modern, ProtocolVersion: ex.ProtocolVersion, Params: ex.Params, Tenant: ex.Tenant, Client: clientKey(ex)})
	if err != nil {
		s.g.logger.Warn("upstream unavailable", "upstream", t.up.Name(), "error", err)
		return nil
	}
	defer st.Close()
	for {
		m, err := st.Next()
		if err != nil {
			s.g.logger.Warn("upstream answer unreadable", "upstream", t.up.Name(), "method", logText(ex.Msg.Method), "status", st.Status(), "error", err)
			return nil
		}
		if m.Kind() == jsonrpc.KindResponse && m.ID.Key() == ex.Msg.ID.Key() {
			if ex.Session != nil && ex.Msg.Method == mcp.MethodInitialize && !m.IsError() {
				s.initialized(ex, l, m, false)
			}
			if !m.IsError() {
				if renamed, err := s.prefixList(ex.Msg.Method, t.up, m); err == nil {
					m = renamed
				}
				if ex.Msg.Method == mcp.MethodToolsList {
					if err := s.g.observeTools(ex.Msg.ID.String(), t.up.Name(), m.Result); err != nil {
						return nil // left out of the merged list: its tools could not be checked
					}
				}
				if _, ok := mcp.ListingFor(ex.Msg.Method); ok {
					s.learnOwners(ex.Msg.Method, t.up, m)
				}
			}
			return m
		}
	}
}

// merge combines the upstreams' answers to a fanned-out request into one.
func (s *Server) merge(ex *streamable.Exchange, targets []target, results []*jsonrpc.Message, ok []int) (*jsonrpc.Message, error) {
	id := ex.Msg.ID
	switch ex.Msg.Method {
	case mcp.MethodToolsList, mcp.MethodPromptsList, mcp.MethodResourcesList, mcp.MethodResourcesTemplateList:
		l, _ := mcp.ListingFor(ex.Msg.Method)
		var all []json.RawMessage
		seen := map[string]bool{}
		for _, i := range ok {
			var r map[string]json.RawMessage
			if err := json.Unmarshal(results[i].Result, &r); err != nil {
				continue
			}
			var items []json.RawMessage
			json.Unmarshal(r[l.Member], &items)
			for _, it := range items {
				if l.Use == mcp.MethodResourcesRead {
					// A resource two upstreams list is listed once, as the one reads reach: the
					// first upstream's (claim).
					var key map[string]json.RawMessage
					json.Unmarshal(it, &key)
					k := string(key[l.Key])
					if seen[k] {
						continue
					}
					seen[k] = true
				}
				all = append(all, it)
			}
		}
		if all == nil {
			all = []json.RawMessage{}
		}
		merged := map[string]any{l.Member: all}
		if next := nextCursor(ex.Msg.Method, targets, results, ok); next != "" {
			merged["nextCursor"] = next
		}
		if ex.Modern {
			merged["resultType"] = "complete" // every 2026-07-28 result says what it is
		}
		body, _ := json.Marshal(merged)
		return jsonrpc.Parse(jsonrpc.Result(id, body), s.g.opts.Limits)
	case mcp.MethodInitialize, mcp.MethodDiscover:
		return s.mergeServerInfo(ex, targets, results, ok)
	default: // logging/setLevel and the like: all that answered agreed
		body := []byte("{}")
		if ex.Modern {
			body = []byte(`{"resultType":"complete"}`)
		}
		return jsonrpc.Parse(jsonrpc.Result(id, body), s.g.opts.Limits)
	}
}

// mergeServerInfo answers initialize or server/discover for several upstreams as one server:
// gatehouse's own identity, the union of the capabilities, every upstream's instructions.
func (s *Server) mergeServerInfo(ex *streamable.Exchange, targets []target, results []*jsonrpc.Message, ok []int) (*jsonrpc.Message, error) {
	caps := map[string]any{}
	var instructions []string
	version := ""
	var versions []any
	for _, i := range ok {
		var r map[string]any
		if err := json.Unmarshal(results[i].Result, &r); err != nil {
			continue
		}
		if c, ok := r["capabilities"].(map[string]any); ok {
			for k, v := range c {
				if _, seen := caps[k]; !seen {
					caps[k] = v
				}
			}
		}
		if in, ok := r["instructions"].(string); ok && in != "" {
			instructions = append(instructions, targets[i].up.Name()+": "+in)
		}
		if v, ok := r["protocolVersion"].(string); ok && version == "" {
			version = v
		}
		if vs, ok := r["supportedVersions"].([]any); ok && versions == nil {
			versions = vs
		}
	}
	info := map[string]any{"name": "gatehouse", "version": "federation"}
	out := map[string]any{"capabilities": caps}
	if ex.Msg.Method == mcp.MethodInitialize {
		out["protocolVersion"] = version
		out["serverInfo"] = info
		if ex.Session != nil && version != "" {
			ex.Session.ProtocolVersion = version
		}
	} else {
		out["resultType"] = "complete"
		out["supportedVersions"] = versions
		out["_meta"] = map[string]any{"io.modelcontextprotocol/serverInfo": info}
	}
	if len(instructions) > 0 {
		out["instructions"] = strings.Join(instructions, "\n")
	}
	body, _ := json.Marshal(out)
	return jsonrpc.Parse(jsonrpc.Result(ex.Msg.ID, body), s.g.opts.Limits)
}

// Notify implements streamable.Backend: a client notification goes to every upstream of the
// session (notifications/initialized, roots changes, cancellations). An upstream that shares one
// session among many clients relays only what a client may say there (bridgeNotification).
func (s *Server) Notify(ctx context.Context, ex *streamable.Exchange) error {
	if ex.Msg.Method == mcp.NotificationCancelled && s.cancelWait(ex) {
		return nil // the request waits for a human: no upstream has seen it
	}
	for _, u := range s.opts.Upstreams {
		st, err := u.Send(ctx, s.link(ex, u), &Outbound{Frame: ex.Msg.Raw, Msg: ex.Msg, Modern: ex.Modern, ProtocolVersion: ex.ProtocolVersion, Client: clientKey(ex)})
		if err != nil {
			s.g.logger.Warn("could not relay a notification", "upstream", u.Name(), "method", logText(ex.Msg.Method), "error", err)
			continue
		}
		st.Close()
	}
	return nil
}

// Reply implements streamable.Backend: the client's answer to a server-to-client request goes back
// to the upstream that asked, with the id it used.
func (s *Server) Reply(ctx context.Context, ex *streamable.Exchange) error {
	st := s.state(ex.Session)
	st.mu.Lock()
	req, ok := st.serverReqs[ex.Msg.ID.Key()]
	delete(st.serverReqs, ex.Msg.ID.Key())
	st.mu.Unlock()
	if !ok {
		return fmt.Errorf("no server request with id %s is waiting for an answer", ex.Msg.ID.String())
	}
	frame := ex.Msg.Raw
	if req.id.Key() != ex.Msg.ID.Key() {
		frame = retagResponse(ex.Msg, req.id)
	}
	out, err := req.upstream.Send(ctx, s.link(ex, req.upstream), &Outbound{Frame: frame, Msg: ex.Msg, ProtocolVersion: ex.ProtocolVersion})
	if err != nil {
		return err
	}
	out.Close()
	return nil
}

// retagResponse returns a response frame with a new id.
func retagResponse(m *jsonrpc.Message, id jsonrpc.ID) []byte {
	if m.IsError() {
		b := append([]byte(`{"jsonrpc":"2.0","id":`), id.Raw()...)
		b = append(b, `,"error":`...)
		b = append(b, m.Error...)
		return append(b, '}')
	}
	return jsonrpc.Result(id, m.Result)
}

// Listen implements streamable.Backend: a legacy session's GET stream carries every upstream's
// server-initiated messages. A client that falls behind reading it loses the whole stream
// (ErrListenerBehind).
func (s *Server) Listen(ctx context.Context, sess *streamable.Session, out streamable.Stream) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ex := &streamable.Exchange{Session: sess, ProtocolVersion: sess.ProtocolVersion}
	var wg sync.WaitGroup
	for _, u := range s.opts.Upstreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := u.Listen(ctx, s.link(ex, u), func(raw []byte) {
				m, err := jsonrpc.Parse(raw, s.g.opts.Limits)
				if err != nil {
					return
				}
				if m.Kind() == jsonrpc.KindRequest {
					raw = s.fromServer(ex, u, m)
				}
				out.Send(raw)
			})
			if err != nil && ctx.Err() == nil {
				s.g.logger.Warn("upstream stream ended", "upstream", u.Name(), "session", sess.ID, "error", err)
			}
			if errors.Is(err, ErrListenerBehind) {
				cancel()
			}
		}()
	}
	wg.Wait()
}

// Closed implements streamable.Backend.
func (s *Server) Closed(sess *streamable.Session) {
	st := s.state(sess)
	st.mu.Lock()
	links := st.links
	st.links = map[string]*Link{}
	st.mu.Unlock()
	for _, u := range s.opts.Upstreams {
		if l := links[u.Name()]; l != nil {
			u.Close(l)
		}
	}
	// The session's id is never minted again: what was kept for it (budgets and rates counted per
	// session, a kill) can only grow the store from now on. A call of the session still in flight
	// may count or kill after this, so it is forgotten again once no call can be: after the longest
	// request timeout.
	holder := "session:" + sess.ID
	forget := func() {
		if err := s.g.opts.Store.Forget(context.Background(), holder); err != nil {
			s.g.logger.Warn("state of an ended session not dropped", "session", sess.ID, "error", err)
		}
	}
	forget()
	time.AfterFunc(forgetAgainAfter(s), forget)
}

// forgetAgainAfter is when an ended session's state is forgotten a second time; tests shorten it.
var forgetAgainAfter = func(s *Server) time.Duration { return s.longestCall() + time.Minute }

// longestCall is the longest a request to any upstream may take.
func (s *Server) longestCall() time.Duration {
	longest := defaultRequestTimeout
	for _, up := range s.opts.Upstreams {
		if t, ok := up.(interface{ RequestTimeout() time.Duration }); ok {
			longest = max(longest, t.RequestTimeout())
		}
	}
	return longest
}

// Refused implements streamable.Backend.
func (s *Server) Refused(ctx context.Context, ex *streamable.Exchange, fe *jsonrpc.FrameError, raw []byte) []byte {
	frame, p := s.g.recordFrameError(s.sessionInfo(ex, ""), fe, raw)
	if err := s.g.durable(p); err != nil {
		return auditFailed(fe.ID, "")
	}
	return frame
}
