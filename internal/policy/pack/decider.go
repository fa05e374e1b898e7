package pack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// Tool says what a tool is in the pack's terms: the MCP scope (namespace and access mode) a call of
// it uses, and where the rest of a runtime request's attributes come from. It is the per-tool
// mapping of SPEC §6.3, written by the operator: an agent cannot choose its own scope.
type Tool struct {
	// Tool is a glob (* ? [seq], as in the pack's paths) over tool names; the first Tool that
	// matches a call's tool applies.
	Tool string
	// Namespace and Access are the call's tool_namespace and tool_access_mode.
	Namespace, Access string
	// GatePhase and ChangeClass, when set, are the call's gate_phase and change_class; otherwise
	// the request's _meta may give them.
	GatePhase, ChangeClass string
	// BranchName, ChangedPaths and DiffLineCount are paths into the call's arguments (names of
	// object members and array positions, joined by dots) where these attributes are read; when
	// unset, the request's _meta may give them.
	BranchName, ChangedPaths, DiffLineCount string
}

// AccessModes are the MCP access modes of a workflow manifest.
var AccessModes = []string{"read", "write_branch", "write_ticket", "approval_required"}

// Decider decides tools/call requests with a pack. It is the pack engine of the gateway (engine
// name "pack"): the verdict is allow for allow, allow_scoped_branch and allow_scoped_ticket,
// require_approval for hold_for_approval, deny and kill_session for themselves.
type Decider struct {
	pack   *Pack
	tools  []Tool
	globs  []func(string) bool
	agents AgentTools
}

// NewDecider returns a Decider for p with the tool mapping tools. agents names the agent-facing
// tools gatehouse serves (SPEC §6.4), which the Decider allows and lists; the zero AgentTools when
// they are not served.
func NewDecider(p *Pack, tools []Tool, agents AgentTools) (*Decider, error) {
	d := &Decider{pack: p, tools: tools, agents: agents}
	for i, t := range tools {
		m, err := globMatcher(t.Tool)
		if err != nil {
			return nil, fmt.Errorf("tools[%d].tool %q: %w", i, t.Tool, err)
		}
		if !slices.Contains(AccessModes, t.Access) || t.Namespace == "" {
			return nil, fmt.Errorf("tools[%d]: a namespace and an access mode (%s) are required", i, strings.Join(AccessModes, ", "))
		}
		d.globs = append(d.globs, m)
	}
	return d, nil
}

// Pack returns the pack in use.
func (d *Decider) Pack() *Pack { return d.pack }

// Revision implements the engine's Decider: the pack's SHA-256.
func (d *Decider) Revision() string { return d.pack.SHA256() }

// HasResponsePhase implements the engine's Decider: a pack decides requests only.
func (d *Decider) HasResponsePhase() bool { return false }

// tool returns the mapping of a tool name, nil when none matches.
func (d *Decider) tool(name string) *Tool {
	for i, match := range d.globs {
		if match(name) {
			return &d.tools[i]
		}
	}
	return nil
}

// Decide implements the engine's Decider. Only tools/call is decided; the pack has nothing to say
// about other methods, which it allows (other engines still decide them). A tool with no mapping
// has no namespace and is denied, as the pack denies anything undeclared.
func (d *Decider) Decide(_ context.Context, in *policy.Input) (policy.Verdict, error) {
	if in.Phase != policy.PhaseRequest || in.Kind != "tools/call" {
		return policy.Verdict{Effect: policy.EffectAllow}, nil
	}
	if d.agents.serves(in) {
		return d.agentToolVerdict(in), nil
	}
	v, _ := d.decide(in, false)
	return v, nil
}

// decide is the verdict on a tools/call, with the evaluator's answer (nil when gatehouse refused
// the request before evaluating it); withDoc builds the answer's printed form (Result.Doc).
func (d *Decider) decide(in *policy.Input, withDoc bool) (policy.Verdict, *Result) {
	req := d.Request(in)
	if problem := checkPaths(req.get("changed_paths")); problem != "" {
		return policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "pack", Reason: problem}, nil
	}
	r, err := d.pack.evaluate(req, withDoc)
	if err != nil {
		return policy.Verdict{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "pack",
			Reason: "the runtime request cannot be decided: " + err.Error()}, nil
	}
	v := policy.Verdict{RuleID: "pack", Reason: r.Reason}
	switch {
	case r.ScopeID != "":
		v.RuleID = r.ScopeID
	case r.WorkflowID != "":
		v.RuleID = r.WorkflowID
	}
	if len(r.Violations) > 0 {
		v.Reason += ": " + strings.Join(r.Violations, "; ")
	}
	if len(v.Reason) > maxReasonBytes {
		v.Reason = strings.ToValidUTF8(v.Reason[:maxReasonBytes], "") + "…"
	}
	switch r.Decision {
	case Allow, AllowScopedBranch, AllowScopedTicket:
		v.Effect = policy.EffectAllow
	case HoldForApproval:
		v.Effect, v.Code = policy.EffectRequireApproval, policy.CodeApprovalRequired
	case KillSession:
		v.Effect, v.Code = policy.EffectKillSession, policy.CodeSessionKilled
	default:
		v.Effect, v.Code = policy.EffectDeny, policy.CodePolicyDeny
	}
	return v, r
}

// Bounds of the runtime adapter, beyond the published evaluator: what a client can make one
// decision cost, and how long an error message it can make gatehouse write.
const (
	maxChangedPaths = 1000
	maxReasonBytes  = 2048
)

// checkPaths refuses, before evaluation, what the published evaluator would accept but gatehouse
// must not: more changed paths than maxChangedPaths (each is matched against every glob of the
// workflow), and a path with a ".." segment, which fnmatch's * matches (src/** would allow
// src/../.github/workflows/release.yml) while the tool would write outside the allowed paths.
func checkPaths(v any) string {
	paths := asList(v)
	if len(paths) > maxChangedPaths {
		return fmt.Sprintf("changed_paths: %d paths, more than gatehouse decides (%d)", len(paths), maxChangedPaths)
	}
	for _, p := range paths {
		if slices.Contains(strings.Split(normalizePath(str(p)), "/"), "..") {
			return "changed_paths: " + reprString(str(p)) + " has a '..' segment"
		}
	}
	return ""
}

// Visible implements the engine's Decider: a tool is listed when it has a mapping and, if the
// list request names a workflow the pack declares, that workflow allows the tool's scope.
func (d *Decider) Visible(_ context.Context, in *policy.Input) (bool, error) {
	if in.Kind != "tools/call" || d.agents.serves(in) {
		return true, nil
	}
	t := d.tool(in.Tool.Name)
	if t == nil {
		return false, nil
	}
	policy := d.pack.policies[workflowOf(in)]
	if policy == nil {
		return true, nil
	}
	for _, s := range listOf(or(objGet(policy.get("tool_access"), "allowed_mcp_scopes"), []any{})) {
		if scope, ok := s.(*Object); ok && str(scope.get("namespace")) == t.Namespace && str(scope.get("access")) == t.Access {
			return true, nil
		}
	}
	return false, nil
}

// Request builds the runtime request of a call (SPEC §6.3):
//
//   - workflow_id: the agent token's workflow_id claim, else _meta gatehouse/workflow_id;
//   - agent_id: the authenticated agent; agent_class only from its token's agent_class claim;
//   - run_id: _meta gatehouse/run_id (the run that budgets, kills and the audit record know);
//   - tool_namespace, tool_access_mode: the tool's mapping, only;
//   - gate_phase, change_class: the mapping, else _meta gatehouse/<name>, else the header
//     Gatehouse-<Name> (gatehouse-gate-phase);
//   - branch_name, changed_paths, diff_line_count: the mapping's argument paths, else _meta, else
//     the header (a string);
//   - runtime_kill_signal: _meta gatehouse/runtime_kill_signal, else its header.
//
// human_approval_record is never taken from the call: a hold is lifted by gatehouse's approval
// flow, not by a record the agent writes.
func (d *Decider) Request(in *policy.Input) *Object {
	req := &Object{names: make([]string, 0, 12), values: make([]any, 0, 12)}
	set := func(name string, v any) {
		if v != nil {
			req.Set(name, v)
		}
	}
	// header is the value of the HTTP header gatehouse-<name, with dashes>, nil without one.
	header := func(name string) any { return nonEmpty(in.Headers["gatehouse-"+strings.ReplaceAll(name, "_", "-")]) }
	set("workflow_id", nonEmpty(workflowOf(in)))
	set("agent_id", nonEmpty(in.Agent.ID))
	if claim, ok := in.Agent.Claims["agent_class"].(string); ok && claim != "" {
		req.Set("agent_class", claim)
	}
	set("run_id", nonEmpty(in.Session.RunID))
	meta := func(name string) any {
		if v, ok := in.Attributes[name]; ok {
			return fromJSON(v)
		}
		return header(name)
	}
	t := d.tool(in.Tool.Name)
	if t == nil {
		t = &Tool{}
	}
	set("tool_namespace", nonEmpty(t.Namespace))
	set("tool_access_mode", nonEmpty(t.Access))
	for _, a := range []struct{ name, fixed, path string }{
		{"gate_phase", t.GatePhase, ""},
		{"change_class", t.ChangeClass, ""},
		{"branch_name", "", t.BranchName},
		{"changed_paths", "", t.ChangedPaths},
		{"diff_line_count", "", t.DiffLineCount},
		{"runtime_kill_signal", "", ""},
	} {
		switch {
		case a.fixed != "":
			req.Set(a.name, a.fixed)
		case a.path != "":
			set(a.name, fromJSON(lookup(in.Tool.Args, a.path)))
		default:
			set(a.name, meta(a.name))
		}
	}
	return req
}

// workflowOf is the workflow of a call: its agent token's workflow_id claim, else its _meta's.
func workflowOf(in *policy.Input) string {
	if claim, ok := in.Agent.Claims["workflow_id"].(string); ok && claim != "" {
		return claim
	}
	return in.Session.WorkflowID
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// lookup follows a dotted path into decoded arguments: object members by name, array elements by
// decimal position. Nil when the path leads nowhere.
func lookup(args map[string]any, path string) any {
	var v any = args
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// fromJSON converts a value as encoding/json decodes it (with UseNumber) into this package's.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		return Number(x)
	case float64:
		return Number(strconv.FormatFloat(x, 'g', -1, 64))
	case map[string]any:
		names := make([]string, 0, len(x))
		for n := range x {
			names = append(names, n)
		}
		slices.Sort(names)
		o := &Object{names: names, values: make([]any, len(names))}
		for i, n := range names {
			o.values[i] = fromJSON(x[n])
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromJSON(e)
		}
		return out
	}
	return v
}
