package pack

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// The agent-facing tools (SPEC §6.4): an agent asks what its workflow allows it, and what the pack
// would decide for a call it has in mind, before making it. They read the pack and act on nothing,
// so the Decider allows and lists them whatever the mapping says; the operator's other policies
// (rules, Rego, allowlists) still decide them as they decide any tool.

// AgentTools are the names clients call the agent-facing tools by: Policy answers the caller's
// workflow's policy (AgentPolicy), Evaluate decides a hypothetical call (WhatIf). An empty name is
// a tool not served. Server is the upstream that serves them (policy.Tool.Server): a tool of
// another server by the same name is an ordinary tool.
type AgentTools struct{ Policy, Evaluate, Server string }

// named reports whether name is the name of one of the agent-facing tools being served.
func (a AgentTools) named(name string) bool {
	return name != "" && (name == a.Policy || name == a.Evaluate)
}

// serves reports whether the call (or listed tool) in is one of the agent-facing tools: its name,
// on gatehouse's own server.
func (a AgentTools) serves(in *policy.Input) bool {
	return a.named(in.Tool.Name) && in.Tool.Server == a.Server
}

// agentToolVerdict is the pack's verdict on a call of an agent-facing tool: allowed, since it
// reads only the pack, unless the call reports a runtime kill signal that kills its session, as
// the same signal on any other call of the workflow would.
func (d *Decider) agentToolVerdict(in *policy.Input) policy.Verdict {
	allow := policy.Verdict{Effect: policy.EffectAllow, RuleID: "pack", Reason: "gatehouse's pack tools read the pack and act on nothing"}
	req := d.Request(in)
	if blank(req.get("runtime_kill_signal")) {
		return allow
	}
	if r, err := d.pack.evaluate(req, false); err == nil && r.Decision == KillSession {
		return policy.Verdict{Effect: policy.EffectKillSession, Code: policy.CodeSessionKilled, RuleID: r.WorkflowID, Reason: r.Reason}
	}
	return allow
}

// AgentPolicy answers the policy tool for the caller of in with its arguments (decoded as
// encoding/json decodes with UseNumber): the pack's entry for the caller's workflow, the agent
// class the pack sees, and which of the operator's tool mappings that workflow allows. Without a
// workflow (no claim, no _meta, no argument) it lists the workflows the caller's agent class may
// run. A refusal (a message for the agent, as a tool error) is returned instead of a document when
// the arguments are wrong, the workflow is not declared, or the caller's class may not run it.
func (d *Decider) AgentPolicy(in *policy.Input, args map[string]any) (*Object, string) {
	if problem := onlyArguments(args, "workflow_id"); problem != "" {
		return nil, problem
	}
	workflow, problem := callerWorkflow(in, args)
	if problem != "" {
		return nil, problem
	}
	doc := object("policy_id", d.pack.root.get("policy_id"), "pack_sha256", d.pack.SHA256(),
		"generated_at", d.pack.root.get("generated_at"))
	if workflow == "" {
		var runs []any
		for _, id := range d.pack.ids {
			p := d.pack.policies[id]
			if _, ok := callerClass(in, p); ok {
				runs = append(runs, object("workflow_id", id, "title", p.get("title"), "status", p.get("status")))
			}
		}
		doc.Set("workflows", or(runs, []any{}))
		doc.Set("note", "No workflow was named: these are the workflows your agent class may run. Name one with workflow_id, or with _meta gatehouse/workflow_id on your calls.")
		return doc, ""
	}
	p := d.pack.policies[workflow]
	if p == nil {
		return nil, fmt.Sprintf("workflow %s is not declared in the policy pack", reprString(workflow))
	}
	class, ok := callerClass(in, p)
	if !ok {
		return nil, fmt.Sprintf("agent class %s may not run workflow %s", reprString(class), reprString(workflow))
	}
	var tools []any
	for _, t := range d.tools {
		scope := d.scope(p, t.Namespace, t.Access)
		tools = append(tools, object("tool", t.Tool, "namespace", t.Namespace, "access", t.Access,
			"allowed", scope != nil, "decision", scope.get("decision")))
	}
	globals, _ := or(d.pack.root.get("global_defaults"), &Object{}).(*Object)
	doc.Set("workflow_id", workflow)
	doc.Set("agent_class", class)
	doc.Set("workflow", p)
	doc.Set("tools", or(tools, []any{}))
	doc.Set("manual_review_required_for", globals.getOr("manual_review_required_for", []any{}))
	return doc, ""
}

// WhatIf answers the evaluate tool for the caller of in with its arguments: the verdict gatehouse
// would give a call of the tool named by "tool" with "arguments", from the same caller, with the
// optional workflow attributes given as its _meta would give them, and the evaluator's whole
// answer. The caller's identity (agent, its token's claims) is the caller's own; an agent cannot
// ask as another, nor for a workflow its token does not bind it to. A refusal is returned instead
// when the arguments are wrong.
func (d *Decider) WhatIf(in *policy.Input, args map[string]any) (*Object, string) {
	if problem := onlyArguments(args, "tool", "arguments", "workflow_id", "run_id", "gate_phase", "change_class", "branch_name", "changed_paths", "diff_line_count"); problem != "" {
		return nil, problem
	}
	tool, problem := stringArgument(args, "tool")
	switch {
	case problem != "":
		return nil, problem
	case tool == "":
		return nil, "tool is required: the name of the tool you would call"
	case d.agents.named(tool):
		return nil, fmt.Sprintf("%s is one of gatehouse's pack tools, which are always allowed; name a tool you would call", reprString(tool))
	}
	toolArgs, isObject := args["arguments"].(map[string]any)
	if a, given := args["arguments"]; given && a != nil && !isObject {
		return nil, "arguments must be an object: the arguments of the call you would make"
	}
	workflow, problem := callerWorkflow(in, args)
	if problem != "" {
		return nil, problem
	}
	runID, problem := stringArgument(args, "run_id")
	if problem != "" {
		return nil, problem
	}
	// The hypothetical call is the caller's, on a copy of its input (which every engine shares),
	// without the asking call's kill signal: a signal on the ask would otherwise tell, for any
	// workflow, whether the pack registers it.
	hyp := *in
	hyp.Kind, hyp.Phase = "tools/call", policy.PhaseRequest
	hyp.Tool = policy.Tool{Name: tool, Args: toolArgs}
	hyp.Session.WorkflowID = workflow
	if runID != "" {
		hyp.Session.RunID = runID
	}
	hyp.Attributes = maps.Clone(in.Attributes)
	if hyp.Attributes == nil {
		hyp.Attributes = map[string]any{}
	}
	delete(hyp.Attributes, "runtime_kill_signal")
	for _, name := range policy.WorkflowAttributes {
		if v, ok := args[name]; ok {
			hyp.Attributes[name] = v
		}
	}
	if _, ok := in.Headers[killSignalHeader]; ok {
		hyp.Headers = maps.Clone(in.Headers)
		delete(hyp.Headers, killSignalHeader)
	}
	v, r := d.decide(&hyp, true)
	doc := object("tool", tool, "effect", string(v.Effect), "rule_id", v.RuleID, "reason", v.Reason,
		"note", "This is the workflow pack's decision alone. The call itself also goes through gatehouse's other policies (rules, Rego, the threat scanner, allowlists, budgets, approvals), which may refuse or hold it.")
	// The evaluator's whole answer describes the workflow (its title, paths, the matched scope):
	// only for a workflow the caller may run, as the policy tool shows it.
	if p := d.pack.policies[workflowOf(&hyp)]; r != nil && p != nil {
		if _, ok := callerClass(&hyp, p); ok {
			doc.Set("evaluation", r.Doc)
		}
	}
	return doc, ""
}

// killSignalHeader is the header a runtime kill signal may come in (Decider.Request).
const killSignalHeader = "gatehouse-runtime-kill-signal"

// scope is the workflow's declared scope of a namespace and access mode, nil when it has none.
func (d *Decider) scope(workflow *Object, namespace, access string) *Object {
	for _, s := range listOf(or(objGet(workflow.get("tool_access"), "allowed_mcp_scopes"), []any{})) {
		if scope, ok := s.(*Object); ok && str(scope.get("namespace")) == namespace && str(scope.get("access")) == access {
			return scope
		}
	}
	return nil
}

// callerWorkflow is the workflow a caller asks about: its token's workflow_id claim, which binds
// it (naming another is refused), else the one its workflow_id argument names, else its call's
// _meta.
func callerWorkflow(in *policy.Input, args map[string]any) (string, string) {
	named, problem := stringArgument(args, "workflow_id")
	if problem != "" {
		return "", problem
	}
	if claim, ok := in.Agent.Claims["workflow_id"].(string); ok && claim != "" {
		if named != "" && named != claim {
			return "", fmt.Sprintf("your credential binds you to workflow %s; you cannot ask about %s", reprString(claim), reprString(named))
		}
		return claim, ""
	}
	if named != "" {
		return named, ""
	}
	return in.Session.WorkflowID, ""
}

// callerClass is the caller's agent class as the evaluator derives it for a workflow (its token's
// agent_class claim, else from its id and the workflow's allowed agents), and whether the
// workflow allows it.
func callerClass(in *policy.Input, workflow *Object) (string, bool) {
	var allowed []string
	for _, agent := range listOf(objGet(workflow.get("identity"), "allowed_agents")) {
		allowed = append(allowed, lower(str(agent)))
	}
	var explicit any
	if claim, ok := in.Agent.Claims["agent_class"].(string); ok {
		explicit = claim
	}
	class := deriveAgentClass(in.Agent.ID, allowed, explicit)
	return class, in.Agent.ID != "" && slices.Contains(allowed, class)
}

// onlyArguments refuses an argument not among names.
func onlyArguments(args map[string]any, names ...string) string {
	var unknown []string
	for name := range args {
		if !slices.Contains(names, name) {
			unknown = append(unknown, reprString(clipName(name)))
		}
	}
	if unknown == nil {
		return ""
	}
	slices.Sort(unknown)
	return fmt.Sprintf("unknown argument %s; the arguments are %s", strings.Join(unknown, ", "), strings.Join(names, ", "))
}

// stringArgument is a string argument, "" when absent or null.
func stringArgument(args map[string]any, name string) (string, string) {
	switch v := args[name].(type) {
	case nil:
		return "", ""
	case string:
		return v, ""
	default:
		return "", name + " must be a string"
	}
}

// clipName bounds a name a caller chose, for a message.
func clipName(s string) string {
	if len(s) <= 64 {
		return s
	}
	return strings.ToValidUTF8(s[:64], "") + "…"
}
