package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// LocalTool is a tool served in-process: its name as this upstream knows it (before federation
// prefixes it) and its whole MCP Tool definition, with that name.
type LocalTool struct {
	Name       string
	Definition json.RawMessage
}

// Toolset is a set of tools gatehouse serves itself (the built-in file tools, SPEC §8.3; the
// pack's agent tools, SPEC §6.4). Call returns a CallToolResult; a Go error is an internal
// failure, never a refusal (refusals are tool results with isError set).
type Toolset interface {
	Tools() []LocalTool
	Call(ctx context.Context, call LocalCall) (json.RawMessage, error)
}

// LocalCall is one call of a Toolset's tool.
type LocalCall struct {
	// Tool is the name as the toolset knows it (no federation prefix).
	Tool string
	// Arguments are the call's arguments as policy let them through (rewritten, if it rewrote
	// them): a JSON object.
	Arguments json.RawMessage
	// Engagement is the engagement the call was resolved to (SPEC §8.1), "" without tenancy.
	Engagement string
	// Input is the decision input of the call as the request chain left it: the caller's identity,
	// its token's claims, its _meta's workflow attributes.
	Input *policy.Input
}

// LocalUpstream is an upstream served in-process: gatehouse answers the protocol (both eras) around
// a Toolset. It sits behind the same pipeline as any other upstream, so policy, allowlists, audit
// and rate limits apply to it unchanged.
type LocalUpstream struct {
	UpstreamName   string
	UpstreamPrefix string
	Tools          Toolset
	// Version is reported as the server's version.
	Version string
	// Limits bound every answer, as the answers of HTTP and stdio upstreams are bounded (SPEC §8.5):
	// a result over Limits.MaxBytes is refused payload_too_large, and none of it is returned. Zero:
	// the jsonrpc defaults.
	Limits jsonrpc.Limits
	// PerEngagement refuses a tools/call that was resolved to no engagement: the toolset keeps
	// each engagement's things apart (the file tools' workspaces).
	PerEngagement bool
}

var _ Upstream = (*LocalUpstream)(nil)

// Name implements Upstream.
func (u *LocalUpstream) Name() string { return u.UpstreamName }

// Prefix implements Upstream.
func (u *LocalUpstream) Prefix() string { return u.UpstreamPrefix }

// Listen implements Upstream: a local upstream sends nothing unprompted.
func (u *LocalUpstream) Listen(ctx context.Context, _ *Link, _ func([]byte)) error {
	<-ctx.Done()
	return nil
}

// Close implements Upstream.
func (u *LocalUpstream) Close(*Link) {}

// Send implements Upstream.
func (u *LocalUpstream) Send(ctx context.Context, _ *Link, out *Outbound) (Stream, error) {
	msg := out.Msg
	if msg.Kind() != jsonrpc.KindRequest {
		return &memStream{}, nil
	}
	result, rpcErr := u.answer(ctx, out)
	if rpcErr != nil {
		m, err := jsonrpc.Parse(rpcErr, u.Limits)
		if err != nil {
			return nil, err
		}
		return &memStream{msgs: []*jsonrpc.Message{m}}, nil
	}
	if out.Modern {
		if result, _ = mcp.ReplaceMember(result, "resultType", []byte(`"complete"`)); result == nil {
			return nil, errors.New("local upstream: result is not an object")
		}
	}
	return synthesize(msg.ID, result, u.Limits)
}

// answer returns the result of one request, or an error frame.
func (u *LocalUpstream) answer(ctx context.Context, out *Outbound) (json.RawMessage, []byte) {
	msg := out.Msg
	info := map[string]any{"name": "gatehouse-" + u.UpstreamName, "version": u.Version}
	caps := map[string]any{"tools": map[string]any{}}
	switch msg.Method {
	case mcp.MethodInitialize:
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		json.Unmarshal(msg.Params, &p)
		version := streamable.LegacyVersions[0]
		if slices.Contains(streamable.LegacyVersions, p.ProtocolVersion) {
			version = p.ProtocolVersion
		}
		return marshal(map[string]any{"protocolVersion": version, "capabilities": caps, "serverInfo": info}), nil
	case mcp.MethodDiscover:
		return marshal(map[string]any{"supportedVersions": append(slices.Clone(streamable.ModernVersions), streamable.LegacyVersions...),
			"capabilities": caps, "_meta": map[string]any{"io.modelcontextprotocol/serverInfo": info}}), nil
	case mcp.MethodPing, "logging/setLevel":
		return json.RawMessage(`{}`), nil
	case mcp.MethodToolsList:
		defs := []json.RawMessage{}
		for _, t := range u.Tools.Tools() {
			defs = append(defs, t.Definition)
		}
		return marshal(map[string]any{"tools": defs}), nil
	case mcp.MethodToolsCall:
		// The frame, not the client's message: it carries the name as this upstream knows it and the
		// arguments as policy rewrote them.
		sent, err := jsonrpc.Parse(out.Frame, jsonrpc.Reread)
		if err != nil {
			return nil, jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeInvalidRequest, err.Error(), nil)
		}
		req, err := mcp.DecodeRequest(sent.Method, sent.Params)
		if err != nil {
			return nil, jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeInvalidParams, err.Error(), nil)
		}
		if u.PerEngagement && out.Tenant == "" {
			return nil, jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeInvalidRequest, "the built-in tools need an engagement", nil)
		}
		return callLocal(ctx, u.Tools, u.UpstreamName, msg.ID, req, out.Tenant, out.Input)
	}
	return nil, jsonrpc.ErrorResponse(msg.ID, jsonrpc.CodeMethodNotFound, "method not found: "+msg.Method, nil)
}

// callLocal calls a toolset's tool for the request req (as read from the frame sent, with the
// name as the toolset knows it) and returns its result, or an error frame.
func callLocal(ctx context.Context, tools Toolset, upstream string, id jsonrpc.ID, req *mcp.Request, engagement string, in *policy.Input) (json.RawMessage, []byte) {
	name := req.Name
	if !slices.ContainsFunc(tools.Tools(), func(t LocalTool) bool { return t.Name == name }) {
		return nil, jsonrpc.ErrorResponse(id, jsonrpc.CodeInvalidParams, "unknown tool "+quote(name), nil)
	}
	args := req.RawArguments
	if args == nil {
		args = json.RawMessage(`{}`)
	}
	res, err := tools.Call(ctx, LocalCall{Tool: name, Arguments: args, Engagement: engagement, Input: in})
	if err != nil {
		return nil, jsonrpc.ErrorResponse(id, jsonrpc.CodeInternalError, "internal error in "+upstream+"."+name, nil)
	}
	return res, nil
}

func marshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
