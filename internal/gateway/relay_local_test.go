package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/pin"
)

const localToolsPolicy = `
name: local
version: "1"
default_effect: allow
rules:
  - id: not-the-servers
    tools: ["gatehouse.*"]
    servers: [peer]
    effect: deny
  - id: no-secrets
    tools: [gatehouse.read]
    when: {field: path, op: eq, value: "secret"}
    effect: deny
  - id: mask
    tools: [gatehouse.read]
    when: {field: path, op: startswith, value: "private/"}
    effect: patch
    patch:
      path: public.txt
`

// TestRelayAnswersLocalTools runs gatehouse run's relay with a local toolset in front of the test
// peer: its tools are listed on the first page of tools/list, and their calls are decided by the
// policy (their server is gatehouse, not the peer), answered by the toolset with the arguments as policy let them through, audited as
// gatehouse's own, and never reach the server.
func TestRelayAnswersLocalTools(t *testing.T) {
	tools := &echoTools{}
	pins, err := pin.New(pin.Config{Action: pin.ActionHold, Fail: pipeline.FailClosed})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{policy: localToolsPolicy, agent: "agent-1", opts: func(o *Options) {
		o.Local, o.LocalPrefix, o.Pins = tools, "gatehouse", pins
	}})
	h.initialize()

	names := func(resp map[string]any) []string {
		var out []string
		for _, tool := range resp["result"].(map[string]any)["tools"].([]any) {
			out = append(out, tool.(map[string]any)["name"].(string))
		}
		return out
	}
	first := names(h.request(1, "tools/list", nil))
	if first[len(first)-1] != "gatehouse.read" || !strings.Contains(strings.Join(first, " "), "echo") {
		t.Errorf("first page: %v", first)
	}
	// Each tool is pinned under the server its calls go to, where its calls check the pin.
	for _, c := range []struct {
		server, tool string
		pinned       bool
	}{{"gatehouse", "gatehouse.read", true}, {"peer", "gatehouse.read", false}, {"peer", "echo", true}} {
		if _, ok, _ := pins.Status(context.Background(), c.server, c.tool); ok != c.pinned {
			t.Errorf("%s's %s pinned: %v", c.server, c.tool, ok)
		}
	}
	// The test peer answers every cursor with its whole list: a later page gets no local tools.
	if later := names(h.request(2, "tools/list", map[string]any{"cursor": "page-2"})); strings.Contains(strings.Join(later, " "), "gatehouse.") {
		t.Errorf("a later page lists the local tools again: %v", later)
	}

	if got := resultText(t, h.call(3, "gatehouse.read", map[string]any{"path": "notes.txt"})); got != `:{"path":"notes.txt"}` {
		t.Errorf("the local tool answered %q", got)
	}
	if got := resultText(t, h.call(4, "gatehouse.read", map[string]any{"path": "private/key"})); got != `:{"path":"public.txt"}` {
		t.Errorf("the patched call answered %q", got)
	}
	if d := errorData(t, h.call(5, "gatehouse.read", map[string]any{"path": "secret"})); d["reason"] != "policy_deny" || d["rule_id"] != "no-secrets" {
		t.Errorf("the denied call: %v", d)
	}
	meta := map[string]any{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": map[string]any{}}
	modern := h.request(6, "tools/call", map[string]any{"name": "gatehouse.read", "arguments": map[string]any{"path": "m"}, "_meta": meta})
	if r, _ := modern["result"].(map[string]any); r["resultType"] != "complete" {
		t.Errorf("a 2026-07-28 call: %v", modern)
	}
	// A name the toolset does not have goes to the server, like any tool.
	if got := resultText(t, h.call(7, "echo", map[string]any{"message": "up"})); got != "Echo: up" {
		t.Errorf("echo: %q", got)
	}
	h.close()

	if got := strings.Join(tools.calls, "\n"); got != ` read {"path":"notes.txt"} (decided as gatehouse.read in )`+"\n"+
		` read {"path":"public.txt"} (decided as gatehouse.read in )`+"\n"+
		` read {"path":"m"} (decided as gatehouse.read in )` {
		t.Errorf("the toolset was called:\n%s", got)
	}
	for _, line := range h.recorded() {
		if strings.Contains(line, "gatehouse.read") {
			t.Errorf("the server received %s", line)
		}
	}
	byID := map[string]string{}
	for _, r := range h.auditRecords() {
		if r.Tool == "gatehouse.read" {
			byID[r.CallID] = r.Upstream + " " + r.Status + " " + r.Effect
		}
	}
	for id, want := range map[string]string{"3": "gatehouse answered allow", "4": "gatehouse answered patch", "5": "gatehouse refused deny", "6": "gatehouse answered allow"} {
		if byID[id] != want {
			t.Errorf("audit of call %s: %q, want %q", id, byID[id], want)
		}
	}
}

// TestWithLocalTools covers what the relay adds to an upstream's answers: the tools on the first
// page only (replacing the upstream's own by those names), and a tools capability where the
// upstream declares none.
func TestWithLocalTools(t *testing.T) {
	g := New(Options{Local: &echoTools{}, LocalPrefix: "gatehouse", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	call := func(method, params string) *pipeline.Call {
		frame := `{"jsonrpc":"2.0","id":1,"method":"` + method + `"`
		if params != "" {
			frame += `,"params":` + params
		}
		msg, err := jsonrpc.Parse([]byte(frame+"}"), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		c := &pipeline.Call{Msg: msg}
		c.Input.Kind = method
		return c
	}
	answer := func(result string) *jsonrpc.Message {
		m, err := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":1,"result":`+result+`}`), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		name, method, params, result, want string
	}{
		{"first page", mcp.MethodToolsList, "", `{"tools":[{"name":"a"},{"name":"gatehouse.read","description":"the upstream's"}],"nextCursor":"n"}`,
			`{"tools":[{"name":"a"},{"name":"gatehouse.read","description":"read a file","inputSchema":{"type":"object","properties":{"path":{"type":"string"}}}}],"nextCursor":"n"}`},
		{"empty cursor", mcp.MethodToolsList, `{"cursor":""}`, `{"tools":[]}`,
			`{"tools":[{"name":"gatehouse.read","description":"read a file","inputSchema":{"type":"object","properties":{"path":{"type":"string"}}}}]}`},
		{"later page", mcp.MethodToolsList, `{"cursor":"n"}`, `{"tools":[{"name":"b"}]}`, `{"tools":[{"name":"b"}]}`},
		{"later page with a tool by a local name", mcp.MethodToolsList, `{"cursor":"n"}`, `{"tools":[{"name":"b"},{"name":"gatehouse.read"}],"nextCursor":"m"}`,
			`{"tools":[{"name":"b"}],"nextCursor":"m"}`},
		{"no tools capability", mcp.MethodInitialize, "", `{"protocolVersion":"2025-11-25","capabilities":{"prompts":{}}}`,
			`{"protocolVersion":"2025-11-25","capabilities":{"prompts":{},"tools":{}}}`},
		{"no capabilities", mcp.MethodDiscover, "", `{"supportedVersions":["2026-07-28"]}`, `{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}}}`},
		{"a tools capability", mcp.MethodInitialize, "", `{"capabilities":{"tools":{"listChanged":true}}}`, `{"capabilities":{"tools":{"listChanged":true}}}`},
		{"another method", mcp.MethodPromptsList, "", `{"prompts":[]}`, `{"prompts":[]}`},
	} {
		got, err := g.withLocalTools(call(c.method, c.params), answer(c.result))
		if err != nil {
			t.Fatal(err)
		}
		var gotV, wantV any
		json.Unmarshal(got.Result, &gotV)
		json.Unmarshal([]byte(c.want), &wantV)
		gb, _ := json.Marshal(gotV)
		wb, _ := json.Marshal(wantV)
		if string(gb) != string(wb) {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got.Result, c.want)
		}
	}
	// An error answer is left alone, but for a server without tools/list, whose first page is the
	// local tools alone.
	errAnswer, _ := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}`), jsonrpc.Limits{})
	if got, _ := g.withLocalTools(call(mcp.MethodToolsList, ""), errAnswer); got != errAnswer {
		t.Error("an error answer was changed")
	}
	notFound, _ := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}`), jsonrpc.Limits{})
	if got, _ := g.withLocalTools(call(mcp.MethodToolsList, `{"cursor":"n"}`), notFound); got != notFound {
		t.Error("a later page's method-not-found was changed")
	}
	got, _ := g.withLocalTools(call(mcp.MethodToolsList, ""), notFound)
	if got.IsError() || string(got.Result) != `{"tools":[{"name":"gatehouse.read","description":"read a file","inputSchema":{"type":"object","properties":{"path":{"type":"string"}}}}]}` {
		t.Errorf("a server without tools/list: %s %s", got.Result, got.Error)
	}
}

// A local tool's answer is bounded by the message limit like a server's: over it, the call is
// refused payload_too_large and audited, and none of the answer reaches the client.
func TestRelayBoundsLocalAnswers(t *testing.T) {
	const limit = 64 << 10
	h := newHarness(t, setup{maxBytes: limit, opts: func(o *Options) { o.Local, o.LocalPrefix = sizedTools{}, "gatehouse" }})
	h.initialize()
	if got := resultText(t, h.call(1, "gatehouse.read", map[string]any{"size": 10})); got != "AAAAAAAAAA" {
		t.Errorf("under the limit: %q", got)
	}
	resp := h.call(2, "gatehouse.read", map[string]any{"size": 2 * limit})
	if d := errorData(t, resp); d["reason"] != "payload_too_large" {
		t.Errorf("over the limit: %v", d)
	}
	h.close()
	var codes []string
	for _, r := range h.auditRecords() {
		if r.Tool == "gatehouse.read" {
			codes = append(codes, r.CallID+" "+r.Status+" "+r.Code)
		}
	}
	if got := strings.Join(codes, ";"); got != "1 answered ;2 upstream_error payload_too_large" {
		t.Errorf("audited: %q", got)
	}
}
