package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/gateway"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/pack"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
)

// packToolset serves the pack's agent tools (SPEC §6.4, policy.pack_agent_tools) from the pack in
// force, so a reloaded pack answers at once. gatehouse run answers them in its relay, gatehouse
// serve as the tools of an upstream named config.AgentToolsUpstream; either way they are called
// only after the request chain has decided the call, and their answers take the response path.
type packToolset struct {
	stage *engine.Stage
}

// newPackToolset returns the toolset of e's pack engine, nil when the configuration does not serve
// the agent tools.
func newPackToolset(cfg *config.Config, e *engines) *packToolset {
	if p, _ := cfg.PackAgentTools(); p == "" || e.pack == nil {
		return nil
	}
	return &packToolset{stage: e.pack}
}

// packToolDefinitions are the tools' definitions, named as the toolset knows them.
var packToolDefinitions = []gateway.LocalTool{
	{Name: config.AgentToolPolicy, Definition: json.RawMessage(`{"name":"` + config.AgentToolPolicy + `",` +
		`"title":"What my workflow allows",` +
		`"description":"Returns the workflow policy pack's entry for your workflow: the MCP scopes (namespace and access mode) you may use and what each allows, the branch prefix and the paths you may write, the limits on a change, the gate phases, the runtime kill signals and the evidence required, with the tools mapped to each scope. Your workflow is the one your credential binds you to, else workflow_id, else _meta gatehouse/workflow_id. Without one, it lists the workflows you may run.",` +
		`"inputSchema":{"type":"object","properties":{"workflow_id":{"type":"string","description":"The workflow to show, when your credential does not bind you to one."}},"additionalProperties":false},` +
		`"annotations":{"readOnlyHint":true,"idempotentHint":true,"openWorldHint":false}}`)},
	{Name: config.AgentToolEvaluate, Definition: json.RawMessage(`{"name":"` + config.AgentToolEvaluate + `",` +
		`"title":"Would the pack allow this call?",` +
		`"description":"Asks what the workflow policy pack would decide for a tool call you have in mind, without making it: allow, deny, require_approval or kill_session, with the reason, the violations and the evaluator's whole answer. The call is taken as yours (your identity, your workflow and run, your call's _meta); the optional attributes stand in for what you would put in the call's _meta. Other policies also decide the real call.",` +
		`"inputSchema":{"type":"object","required":["tool"],"properties":{` +
		`"tool":{"type":"string","description":"The tool you would call, by the name you call it."},` +
		`"arguments":{"type":"object","description":"The arguments you would call it with."},` +
		`"workflow_id":{"type":"string"},"run_id":{"type":"string"},"gate_phase":{"type":"string"},"change_class":{"type":"string"},` +
		`"branch_name":{"type":"string"},"changed_paths":{"type":"array","items":{"type":"string"}},"diff_line_count":{"type":"integer"}},` +
		`"additionalProperties":false},` +
		`"annotations":{"readOnlyHint":true,"idempotentHint":true,"openWorldHint":false}}`)},
}

// Tools implements gateway.Toolset.
func (s *packToolset) Tools() []gateway.LocalTool { return packToolDefinitions }

// Call implements gateway.Toolset. What the caller got wrong (its arguments, a workflow it may not
// see) is a tool error it can read; a Go error is an internal failure.
func (s *packToolset) Call(_ context.Context, call gateway.LocalCall) (json.RawMessage, error) {
	d, ok := s.stage.Current().(*pack.Decider)
	if !ok || call.Input == nil {
		return nil, errors.New("pack tools: no pack in force, or no decision input")
	}
	args, err := mcp.DecodeObject(call.Arguments)
	if err != nil {
		return toolError("the arguments must be a JSON object"), nil
	}
	var doc *pack.Object
	var problem string
	switch call.Tool {
	case config.AgentToolPolicy:
		doc, problem = d.AgentPolicy(call.Input, args)
	case config.AgentToolEvaluate:
		doc, problem = d.WhatIf(call.Input, args)
	default:
		return nil, fmt.Errorf("pack tools: no tool %q", call.Tool)
	}
	if problem != "" {
		return toolError(problem), nil
	}
	if call.Tool == config.AgentToolEvaluate {
		// In monitor mode the pack's verdict is recorded, not enforced: say so, since the call
		// itself will then get through whatever the effect says.
		doc.Set("pack_mode", string(s.stage.Mode()))
	}
	text := pack.Dump(doc)
	var structured bytes.Buffer
	if err := json.Compact(&structured, text); err != nil {
		// An attribute the caller gave as a number too large for a double is echoed as json.dumps
		// writes it, Infinity, which is not JSON.
		return toolError("the answer would hold a number JSON cannot carry (one too large for a double); give the attributes as strings or integers"), nil
	}
	return json.Marshal(map[string]any{
		"content":           []any{map[string]any{"type": "text", "text": string(text)}},
		"structuredContent": json.RawMessage(structured.Bytes()),
	})
}

// toolError is a CallToolResult that tells the caller what it got wrong.
func toolError(message string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"content": []any{map[string]any{"type": "text", "text": message}}, "isError": true})
	return b
}
