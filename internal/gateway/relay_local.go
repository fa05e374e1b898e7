package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
)

// gatehouse run's local tools (Options.Local): tools gatehouse answers itself in front of its one
// upstream. Under gatehouse serve the same toolset is a LocalUpstream, which federation lists and
// routes; gatehouse run has no federation, so the relay lists and answers them here.

// localName returns the name the local toolset knows a client's tool name by, and whether it is
// one of its tools.
func (g *Gateway) localName(name string) (string, bool) {
	if g.opts.Local == nil {
		return "", false
	}
	inner, ok := strings.CutPrefix(name, g.opts.LocalPrefix+".")
	if !ok {
		return "", false
	}
	for _, t := range g.opts.Local.Tools() {
		if t.Name == inner {
			return inner, true
		}
	}
	return "", false
}

// answerLocally answers a decided, forwarding call of a local tool: the toolset is called with the
// arguments as policy let them through (frame, the rewritten copy), and its result takes the
// response path and the audit record of any upstream's answer. The upstream never sees the call.
func (r *Relay) answerLocally(ctx context.Context, msg *jsonrpc.Message, c *pipeline.Call, frame, args []byte) {
	start := time.Now()
	answer := func(frame []byte, o audit.Outcome) {
		o.Args, o.Upstream = args, time.Since(start)
		r.out.send(frame, held{r.g.record(c, o), msg.ID, c.DecisionID})
	}
	// fault refuses the call; if the toolset has not run (ran), its budgets are given back, as for
	// a call never forwarded.
	fault := func(ran bool, code policy.Code, why string) {
		if !ran {
			c.Decision.Abandon()
		}
		c.Refuse(r.g.opts.LocalPrefix, code, why)
		f := refusal(c)
		answer(f, audit.Outcome{Status: audit.StatusUpstreamError, Result: f})
	}
	sent, err := jsonrpc.Parse(frame, jsonrpc.Reread)
	if err != nil {
		fault(false, policy.CodeInternal, "the call could not be read again")
		return
	}
	req, err := mcp.DecodeRequest(sent.Method, sent.Params)
	if err != nil {
		fault(false, policy.CodeMalformed, err.Error())
		return
	}
	local := *req
	local.Name, _ = r.g.localName(req.Name)
	result, errFrame := callLocal(ctx, r.g.opts.Local, r.g.opts.LocalPrefix, msg.ID, &local, c.Input.Tenant, &c.Input)
	if errFrame == nil {
		if c.Request.Modern {
			if result, err = mcp.ReplaceMember(result, "resultType", []byte(`"complete"`)); err != nil {
				fault(true, policy.CodeInternal, "the tool's result is not an object")
				return
			}
		}
		errFrame = jsonrpc.Result(msg.ID, result)
	}
	resp, err := jsonrpc.Parse(errFrame, r.g.opts.Limits)
	if err != nil {
		var fe *jsonrpc.FrameError
		if errors.As(err, &fe) && fe.Reason == policy.CodePayloadTooLarge {
			fault(true, policy.CodePayloadTooLarge, "the answer exceeds the message limit")
			return
		}
		fault(true, policy.CodeInternal, "the tool's answer could not be read")
		return
	}
	out, o := r.g.respond(ctx, c, resp, nil)
	answer(out, o)
}

// withLocalTools adds the local tools to an upstream's answer a client will read them from, and
// returns it: the first page of tools/list (a server that has no tools/list answers the first page
// with the local tools alone), and the tools capability of initialize and server/discover, for a
// server that declares none. A server's own tools by their names are dropped from every page,
// since gatehouse answers their calls. The local tools are pinned under LocalPrefix, where their
// calls check them (respond pins the server's own); only a failure to check the pins is an error.
func (g *Gateway) withLocalTools(c *pipeline.Call, resp *jsonrpc.Message) (*jsonrpc.Message, error) {
	var result []byte
	var err error
	switch c.Input.Kind {
	case mcp.MethodToolsList:
		first := firstPage(c)
		if first {
			if err := g.observeTools(c.DecisionID, g.opts.LocalPrefix, g.localList()); err != nil {
				return nil, err
			}
		}
		switch {
		case resp.IsError() && first && methodNotFound(resp):
			result = g.localList()
		case resp.IsError():
			return resp, nil
		default:
			result, err = g.listLocalTools(resp.Result, first)
		}
	case mcp.MethodInitialize, mcp.MethodDiscover:
		if resp.IsError() {
			return resp, nil
		}
		result, err = withToolsCapability(resp.Result)
	default:
		return resp, nil
	}
	if result == nil && err == nil {
		return resp, nil
	}
	var m *jsonrpc.Message
	if err == nil {
		m, err = jsonrpc.Parse(jsonrpc.Result(resp.ID, result), jsonrpc.Reread)
	}
	if err != nil {
		// The answer is left as the upstream sent it: the local tools are missing from it, and
		// nothing is shown that policy would hide (lists are filtered after this).
		g.logger.Warn("gatehouse's own tools could not be added to the upstream's answer", "method", c.Input.Kind, "decision_id", c.DecisionID, "error", err)
		return resp, nil
	}
	return m, nil
}

// firstPage reports whether a list request asks for the first page: no cursor, or an empty one.
func firstPage(c *pipeline.Call) bool {
	var params struct {
		Cursor *string `json:"cursor"`
	}
	if len(c.Msg.Params) > 0 {
		json.Unmarshal(c.Msg.Params, &params)
	}
	return params.Cursor == nil || *params.Cursor == ""
}

// localDefinitions are the local tools' definitions, by the names clients call them.
func (g *Gateway) localDefinitions() []json.RawMessage {
	var defs []json.RawMessage
	for _, t := range g.opts.Local.Tools() {
		def, err := mcp.ReplaceMember(t.Definition, "name", []byte(quote(g.opts.LocalPrefix+"."+t.Name)))
		if err != nil {
			continue // a toolset's definition is an object with a name; this cannot happen
		}
		defs = append(defs, def)
	}
	return defs
}

// localList is a tools/list result of the local tools alone.
func (g *Gateway) localList() []byte {
	b, _ := json.Marshal(map[string]any{"tools": g.localDefinitions()})
	return b
}

// listLocalTools returns a tools/list result without the server's tools by the local tools' names,
// and with the local tools after its own on the first page; nil when it has nothing to change.
func (g *Gateway) listLocalTools(result []byte, first bool) ([]byte, error) {
	var list struct {
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(result, &list); err != nil {
		return nil, err
	}
	tools := make([]json.RawMessage, 0, len(list.Tools)+2)
	for _, t := range list.Tools {
		var named struct {
			Name string `json:"name"`
		}
		json.Unmarshal(t, &named)
		if _, ours := g.localName(named.Name); ours {
			g.logger.Warn("the upstream lists a tool by the name of one of gatehouse's own; gatehouse's is listed and answers its calls", "tool", logText(named.Name))
			continue
		}
		tools = append(tools, t)
	}
	if !first && len(tools) == len(list.Tools) {
		return nil, nil
	}
	if first {
		tools = append(tools, g.localDefinitions()...)
	}
	b, err := json.Marshal(tools)
	if err != nil {
		return nil, err
	}
	return mcp.ReplaceMember(result, "tools", b)
}

// withToolsCapability adds "tools": {} to the capabilities of an initialize or discover result
// that has none; nil when it has.
func withToolsCapability(result []byte) ([]byte, error) {
	var r struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, err
	}
	if _, ok := r.Capabilities["tools"]; ok {
		return nil, nil
	}
	if r.Capabilities == nil {
		r.Capabilities = map[string]json.RawMessage{}
	}
	r.Capabilities["tools"] = json.RawMessage(`{}`)
	caps, err := json.Marshal(r.Capabilities)
	if err != nil {
		return nil, err
	}
	return mcp.ReplaceMember(result, "capabilities", caps)
}
