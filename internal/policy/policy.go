// Package policy is the vocabulary every policy decider shares: the decision input document, the
// effects an engine may answer with, the stable reason codes, and the rewrite operations a decision can
// ask for. It exists so that the native rules engine, the Rego engine and the workflow pack can be pure
// functions from an Input to a Verdict, with no knowledge of transports, pipelines or each other.
//
// The Input mirrors the Rego input document of SPEC §5.2 field for field, so that one input file can be
// evaluated by either engine (gatehouse eval) and so that a rule and a Rego policy see the same facts.
package policy

import (
	"fmt"
	"time"
)

// Effect is what an engine wants done with a message (SPEC §3.3).
type Effect string

// The effects, in the vocabulary of SPEC §3.3.
const (
	EffectAllow           Effect = "allow"
	EffectDeny            Effect = "deny"
	EffectRedact          Effect = "redact"
	EffectPatch           Effect = "patch"
	EffectRequireApproval Effect = "require_approval"
	EffectKillSession     Effect = "kill_session"
)

// ParseEffect maps a policy's spelling of an effect to an Effect. hold_for_approval is the workflow
// pack's name for require_approval and is accepted everywhere.
func ParseEffect(s string) (Effect, bool) {
	switch s {
	case "allow", "deny", "redact", "patch", "require_approval", "kill_session":
		return Effect(s), true
	case "hold_for_approval":
		return EffectRequireApproval, true
	}
	return "", false
}

// Forwards reports whether a message with this effect is passed on (possibly rewritten).
func (e Effect) Forwards() bool {
	return e == EffectAllow || e == EffectRedact || e == EffectPatch
}

// Severity orders effects for combination (SPEC §3.3): any kill_session wins, then any deny, then any
// hold, then rewrites, then allow. Higher is stronger.
func (e Effect) Severity() int {
	switch e {
	case EffectKillSession:
		return 5
	case EffectDeny:
		return 4
	case EffectRequireApproval:
		return 3
	case EffectPatch, EffectRedact:
		return 2
	case EffectAllow:
		return 1
	}
	return 0
}

// Code is a stable snake_case reason a client and an operator can match on (SPEC §3.3). It appears as
// data.reason in JSON-RPC errors and as code in audit records.
type Code string

// The stable reason codes. Each maps to one JSON-RPC error code in package jsonrpc.
const (
	CodePolicyDeny          Code = "policy_deny"
	CodeValidationFailed    Code = "validation_failed"
	CodeApprovalRequired    Code = "approval_required"
	CodeApprovalDenied      Code = "approval_denied"
	CodeApprovalTimeout     Code = "approval_timeout"
	CodeSessionKilled       Code = "session_killed"
	CodeCrossTenant         Code = "cross_tenant"
	CodeRateLimited         Code = "rate_limited"
	CodeBudgetExceeded      Code = "budget_exceeded"
	CodePayloadTooLarge     Code = "payload_too_large"
	CodeThreatDetected      Code = "threat_detected"
	CodeUnauthenticated     Code = "unauthenticated"
	CodeUpstreamUnavailable Code = "upstream_unavailable"
	CodePolicyError         Code = "policy_error"
	CodeAuditUnavailable    Code = "audit_unavailable"
	CodeMalformed           Code = "malformed_message"
	CodeInternal            Code = "internal_error"
)

// Phase says whether a message is a request on its way to an upstream or a result on its way back.
type Phase string

// The two phases a rule or a hook can apply to.
const (
	PhaseRequest  Phase = "request"
	PhaseResponse Phase = "response"
)

// Principal is an authenticated caller: the user of §5.2 or the agent of §7.
type Principal struct {
	ID     string         `json:"id"`
	Roles  []string       `json:"roles"`
	Claims map[string]any `json:"claims"`
}

// HasAnyRole reports whether p holds at least one of roles.
func (p *Principal) HasAnyRole(roles []string) bool {
	for _, want := range roles {
		for _, have := range p.Roles {
			if want == have {
				return true
			}
		}
	}
	return false
}

// Tool is the target of a tools/call.
type Tool struct {
	Name   string         `json:"name"`
	Server string         `json:"server"`
	Args   map[string]any `json:"args"`
}

// Resource is the target of resources/read and resources/subscribe.
type Resource struct {
	URI string `json:"uri"`
}

// Prompt is the target of prompts/get.
type Prompt struct {
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
}

// Session names the conversation a message belongs to, where known.
type Session struct {
	ID         string `json:"id"`
	RunID      string `json:"run_id"`
	WorkflowID string `json:"workflow_id"`
}

// Finding is one explainable scanner hit (SPEC §9.1).
type Finding struct {
	Rule     string  `json:"rule"`
	Category string  `json:"category"`
	Weight   float64 `json:"weight"`
	Where    string  `json:"where"`
}

// Threat is the scanner's view of a message. Until a scanner is configured the score is zero and there
// are no findings.
type Threat struct {
	Score    float64   `json:"score"`
	Findings []Finding `json:"findings"`
}

// Input is the decision input document (SPEC §5.2). Every field is present, empty when the caller
// cannot know it yet. Argument and result values are JSON values as decoded by encoding/json with
// UseNumber: numbers are json.Number, so no precision is lost before a rewrite.
//
// Deciders must treat an Input as read-only: the same Input is shown to every engine.
type Input struct {
	Kind      string            `json:"kind"`
	User      Principal         `json:"user"`
	Agent     Principal         `json:"agent"`
	Tenant    string            `json:"tenant"`
	Tool      Tool              `json:"tool"`
	Resource  Resource          `json:"resource"`
	Prompt    Prompt            `json:"prompt"`
	RequestIP string            `json:"request_ip"`
	Headers   map[string]string `json:"headers"`
	Session   Session           `json:"session"`
	Threat    Threat            `json:"threat"`
	// Response is the result payload; set only in the response phase (post hook).
	Response any `json:"response,omitempty"`
	// Attributes are the workflow attributes the request's _meta states (gatehouse/<name>, for the
	// names of WorkflowAttributes), decoded as arguments are. Only the workflow pack reads them.
	Attributes map[string]any `json:"-"`

	// Phase is not part of the Rego document: Rego tells phases apart by the presence of response.
	Phase Phase `json:"-"`
}

// WorkflowAttributes are the runtime attributes of the workflow pack (SPEC §6.3) that a request
// may state in its _meta as gatehouse/<name>. The workflow and run ids have members of their own
// (Session); the tool's namespace and access mode come only from the operator's mapping.
var WorkflowAttributes = []string{"gate_phase", "change_class", "runtime_kill_signal", "branch_name", "changed_paths", "diff_line_count"}

// Target is the name a rule's tools glob matches: the tool name for tools/call, the prompt name for
// prompts/get, and the resource URI for resources/read and resources/subscribe.
func (in *Input) Target() string {
	switch in.Kind {
	case "tools/call":
		return in.Tool.Name
	case "prompts/get":
		return in.Prompt.Name
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return in.Resource.URI
	}
	return ""
}

// Args returns the arguments of the call, or nil when the kind has none.
func (in *Input) Args() map[string]any {
	switch in.Kind {
	case "tools/call":
		return in.Tool.Args
	case "prompts/get":
		return in.Prompt.Args
	}
	return nil
}

// OpKind says how a rewrite operation changes its path.
type OpKind string

// The rewrite operations. Redact replaces a value that exists and never creates one; Set creates or
// replaces; Remove deletes. RedactSecrets (no path: the whole document) redacts every secret the
// gateway's redactor finds (SPEC §8.6 field names and patterns); it is expanded when applied
// (ApplyFinding).
const (
	OpSet           OpKind = "set"
	OpRedact        OpKind = "redact"
	OpRemove        OpKind = "remove"
	OpRedactSecrets OpKind = "redact_secrets"
)

// RedactedValue is what a redact operation writes in place of a value.
const RedactedValue = "[REDACTED]"

// Op is one rewrite of the arguments (request phase) or the result (response phase). Path segments
// index objects by name and arrays by decimal position.
type Op struct {
	Kind  OpKind   `json:"op"`
	Path  []string `json:"path"`
	Value any      `json:"value,omitempty"`
}

func (o Op) String() string { return fmt.Sprintf("%s %v", o.Kind, o.Path) }

// Scope is what a budget or rate limit is counted per (SPEC §4.4).
type Scope string

// The scopes a budget or rate limit may be counted per.
const (
	ScopeSession Scope = "session"
	ScopeAgent   Scope = "agent"
	ScopeRun     Scope = "run"
	ScopeTenant  Scope = "tenant"
)

// Holder is whom a counter of scope is kept for on the call in, as "<kind>:<id>" (a session's and
// an agent's in the form of their kill scopes). A run is named by the client, so its holder is
// qualified by the tenant ("run:<tenant>/<run id>"): one engagement can never name another's run.
// A scope the call has no value for falls back to a session, then to the agent, which is
// authenticated; a 2026-07-28 request has no session, and never falls back to a run it names. Agent
// and tenant have no fallback. It is "" when the call has none of what it needs.
func (in *Input) Holder(scope Scope) string {
	switch scope {
	case ScopeAgent:
		return holder("agent:", in.Agent.ID)
	case ScopeTenant:
		return holder("tenant:", in.Tenant)
	case ScopeRun:
		if in.Session.RunID != "" {
			return "run:" + in.Tenant + "/" + in.Session.RunID
		}
	}
	if in.Session.ID != "" {
		return "session:" + in.Session.ID
	}
	return holder("agent:", in.Agent.ID)
}

func holder(kind, id string) string {
	if id == "" {
		return ""
	}
	return kind + id
}

// Budget asks the budget stage to add Amount to a counter and refuse the call if the counter would
// exceed Limit. It is counted only when the call is forwarded.
type Budget struct {
	Key    string        `json:"key"`
	Scope  Scope         `json:"scope"`
	Amount float64       `json:"amount"`
	Limit  float64       `json:"limit"`
	Window time.Duration `json:"window"`
}

// Rate asks the budget stage to admit at most Limit calls per Per for the scope.
type Rate struct {
	Key   string        `json:"key"`
	Scope Scope         `json:"scope"`
	Limit int           `json:"limit"`
	Per   time.Duration `json:"per"`
}

// Verdict is one engine's answer for one message.
type Verdict struct {
	Engine string `json:"engine"`
	Effect Effect `json:"effect"`
	// Code is the reason code of a refusal (deny defaults to policy_deny).
	Code Code `json:"code,omitempty"`
	// Reason is the policy author's human explanation.
	Reason string `json:"reason,omitempty"`
	// RuleID names the rule (or Rego rule path) that decided; empty for a default decision.
	RuleID string `json:"rule_id,omitempty"`
	// Ops are the rewrites a redact or patch effect asks for.
	Ops []Op `json:"ops,omitempty"`
	// Budget and Rate are the stateful limits attached to the deciding rule, if any.
	Budget *Budget `json:"budget,omitempty"`
	Rate   *Rate   `json:"rate,omitempty"`
	// Revision identifies the policy that produced the verdict (rules version, bundle revision, pack sha).
	Revision string `json:"revision,omitempty"`
}
