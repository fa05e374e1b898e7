package report

import (
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// Report is what a set of audit files shows. Every list is sorted, so that the same files always
// give the same report.
type Report struct {
	// Files are the audit files, as given.
	Files []string
	// Integrity is what auditlog.Verify found.
	Integrity Integrity
	// Records counts the lines read, by record type.
	Records RecordCounts
	// First and Last are the times of the earliest and latest readable record; zero when none.
	First, Last time.Time

	// Agents and Tenants are the decisions per agent and per tenant, most active first. A decision
	// without an agent (or tenant) is counted under the empty name.
	Agents, Tenants []Activity
	// Effects counts decisions by applied effect; Would by the effect monitor mode would have applied.
	Effects, Would []Count
	// Rules counts decisions by engine, rule and effect.
	Rules []RuleCount
	// Engines counts decisions by the engine (or stage) that decided them.
	Engines []Count
	// Methods, Tools and Statuses count decisions by MCP method, by tool (or prompt or resource) and
	// by outcome.
	Methods, Tools, Statuses []Count
	// Codes counts decisions that carry a reason code: refusals, holds and kills.
	Codes []Count
	// FailPostures counts decisions where an engine failed and a fail posture (open or closed) decided.
	FailPostures []Count
	// Redacted counts decisions with [REDACTED] in their argument or result preview.
	Redacted int
	// Threats is the threat rollup.
	Threats Threats
	// Approvals lists the decisions held for a human (they carry an approval id), oldest first.
	Approvals []Approval
	// EventKinds counts event records by method (admin/allowlist.put, tools/pin.changed, ...);
	// Changes lists the operator changes and quarantines among them, oldest first.
	EventKinds []Count
	Changes    []Event
}

// Event is an event record worth listing: an operator's change, or a tool quarantined.
type Event struct {
	Time     time.Time
	Seq      uint64
	Method   string
	Tenant   string
	Upstream string
	Tool     string
	User     string
	Effect   string
	Detail   string
}

// Integrity is the attestation: what verifying the chain found.
type Integrity struct {
	// Intact is true when the chain verified with no problem.
	Intact bool
	// Problem is the first bad record when the chain is not intact.
	Problem *auditlog.Problem
	// Chain is the verifier's report: records, sequence range, last hash, checkpoints, warnings.
	Chain auditlog.Report
	// KeyID names the public key every checkpoint signature was verified against; empty when no key
	// was given, in which case signatures were not checked.
	KeyID string
}

// RecordCounts counts what the files hold.
type RecordCounts struct {
	// Records counts every readable record; Decisions, Events, Checkpoints and Recoveries split it by
	// type.
	Records, Decisions, Events, Checkpoints, Recoveries int
	// Unreadable counts lines that are not valid records (torn, edited into invalid JSON, too long):
	// they are left out of every statistic.
	Unreadable int
}

// Count is a number of decisions with one value of something.
type Count struct {
	// Key is the value counted (an effect, a code, an engine, …); empty when records carry none.
	Key string `json:"key"`
	// N is the number of decisions with it.
	N int `json:"n"`
}

// RuleCount is a number of decisions one rule of one engine made with one effect.
type RuleCount struct {
	// Engine, Rule and Effect are as recorded; Rule is empty for a default decision.
	Engine, Rule, Effect string
	// N is the number of decisions.
	N int
}

// Activity is what one agent or one tenant did.
type Activity struct {
	// Name is the agent id or tenant; empty for decisions that name none.
	Name string
	// Decisions counts every decision; the rest split them by applied effect: Forwarded (allow,
	// redact, patch), Denied, Held (require_approval) and Killed (kill_session).
	Decisions, Forwarded, Denied, Held, Killed int
	// Threats counts decisions the threat scanner flagged or that were refused with code
	// threat_detected.
	Threats int
	// Tools is the number of distinct tools, prompts and resources used.
	Tools int
	// Agents is the number of distinct agents (tenants only).
	Agents int
	// Roles are the roles the agent was seen with (agents only), sorted.
	Roles []string
	// First and Last are the times of its first and last decision.
	First, Last time.Time
}

// Threats is the threat rollup. Records of audit schema v2 name the threat score and the scanner
// rules of every call the scanner flagged; older records carry only the outcome of a refusal (code
// threat_detected).
type Threats struct {
	// Flagged counts decisions whose messages the scanner flagged (a threat score in the record);
	// Detected counts decisions with code threat_detected (refused because of a threat), and
	// Monitor those of them only computed in monitor mode (not applied).
	Flagged, Detected, Monitor int
	// ByEffect splits Flagged by the effect applied: what the policy did with the flagged calls.
	ByEffect []Count
	// ByRule counts the scanner rules named by flagged decisions (a decision counts once per rule).
	ByRule []Count
	// ByEngine splits Detected by the engine that refused.
	ByEngine []Count
	// ByAgent and ByTool count the decisions that were flagged or refused for a threat.
	ByAgent, ByTool []Count
}

// Approval is one decision held for a human.
type Approval struct {
	// Time and Seq place the decision in the log.
	Time time.Time
	Seq  uint64
	// ApprovalID is the id the caller was answered with.
	ApprovalID string
	// Agent, Tenant and Tool say who asked for what.
	Agent, Tenant, Tool string
	// Effect, Code and Status say how the decision ended: held (approval_required), or later
	// approval_denied or approval_timeout.
	Effect, Code, Status string
}
