package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// Rows beyond these limits are summarized in a note, so that a report of a busy log stays readable.
const (
	maxToolRows     = 25
	maxApprovalRows = 200
)

// none is how the report names the empty agent, tenant, rule or engine.
const none = "(none)"

// codeMeaning explains the reason codes of docs/errors.md.
var codeMeaning = map[string]string{
	"internal_error":       "a fault inside gatehouse",
	"policy_deny":          "a policy denied the request or result",
	"validation_failed":    "a policy found the arguments out of bounds",
	"approval_required":    "held for a human",
	"approval_denied":      "a human denied the held request",
	"approval_timeout":     "nobody decided the held request in time",
	"session_killed":       "the session, run, agent or tenant is killed",
	"cross_tenant":         "the tool is outside the tenant's allowlist",
	"rate_limited":         "a rate limit was exhausted",
	"budget_exceeded":      "the call would take a budget over its limit",
	"payload_too_large":    "the message exceeds the size limit",
	"threat_detected":      "the threat scanner refused the message",
	"unauthenticated":      "no valid credential where one is required",
	"upstream_unavailable": "the server exited, hung or did not answer in time",
	"policy_error":         "a policy engine failed and the fail posture is closed",
	"audit_unavailable":    "the audit record could not be written",
	"malformed_message":    "the message could not be read",
}

// document lays out r.
func (r *Report) document() *document {
	d := &document{Title: "Gatehouse compliance evidence report"}
	if !r.Integrity.Intact {
		d.Title += ": AUDIT CHAIN NOT INTACT"
		d.Alert = []para{
			text("AUDIT CHAIN NOT INTACT: " + problemText(r)),
			text("The log was edited, cut short or damaged after it was written. Everything below is computed from the records as they are now and is not evidence of what happened; investigate with gatehouse verify and the original files."),
		}
	}
	d.Intro = []para{
		text("This report was produced by gatehouse report from the audit files listed under Scope, and from nothing else: it has no clock and names no host, so the same files always give the same report."),
		para{plain("Reproduce the integrity attestation with "), code(verifyCommand(r)), plain(".")},
	}
	d.Sections = append(d.Sections, r.scopeSection(), r.integritySection(), r.agentsSection(), r.tenantsSection())
	d.Sections = append(d.Sections, r.decisionSections()...)
	d.Sections = append(d.Sections, r.codesSection(), r.threatSection(), r.approvalsSection())
	d.Sections = append(d.Sections, r.eventsSections()...)
	d.Sections = append(d.Sections, controlSections(r)...)
	return d
}

func verifyCommand(r *Report) string {
	var b strings.Builder
	b.WriteString("gatehouse verify")
	for _, f := range r.Files {
		b.WriteString(" --audit " + f)
	}
	if r.Integrity.KeyID != "" {
		b.WriteString(" --pubkey KEY")
	}
	return b.String()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(auditlog.TimeLayout)
}

func itoa(n int) string { return strconv.Itoa(n) }

func name(s string) string {
	if s == "" {
		return none
	}
	return s
}

func share(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func (r *Report) scopeSection() section {
	files := para{}
	for i, f := range r.Files {
		if i > 0 {
			files = append(files, plain(", "))
		}
		files = append(files, code(f))
	}
	rc := r.Records
	return section{ID: "scope", Title: "Scope", Level: 2, Table: &table{
		Head: []string{"item", "value"},
		Rows: [][]para{
			{text("Audit files"), files},
			row("Records read", itoa(rc.Records)),
			row("Decision records", itoa(rc.Decisions)),
			row("Event records (operator changes, tool definitions)", itoa(rc.Events)),
			row("Checkpoint records", itoa(rc.Checkpoints)),
			row("Recovery records", itoa(rc.Recoveries)),
			row("Unreadable lines (left out of every count)", itoa(rc.Unreadable)),
			row("First record", stamp(r.First)),
			row("Last record", stamp(r.Last)),
		},
	}}
}

func (r *Report) integritySection() section {
	in, c := &r.Integrity, &r.Integrity.Chain
	verdict := "intact"
	if !in.Intact {
		verdict = "NOT INTACT"
	}
	rows := [][]para{row("Hash chain", verdict)}
	if p := in.Problem; p != nil {
		rows = append(rows, row("First problem", problemText(r)))
	}
	verified := "verified"
	if !in.Intact {
		verified = "verified before the problem"
	}
	rows = append(rows,
		row("Records "+verified, itoa(c.Records)),
		row("Decision records "+verified, itoa(c.Decisions)),
		row("Sequence range", fmt.Sprintf("%d..%d", c.FirstSeq, c.LastSeq)),
		[]para{text("Last hash (pin it to detect later truncation)"), para{code(name(c.LastHash))}},
		row("Checkpoints "+verified, fmt.Sprintf("%d (%d signed)", c.Checkpoints, c.SignedCheckpoints)),
		row("Checkpoint signatures", signatureState(r)),
	)
	files := para{}
	for i, f := range c.Files {
		if i > 0 {
			files = append(files, plain(", "))
		}
		files = append(files, code(f))
	}
	if len(files) > 0 {
		rows = append(rows, []para{text("Files in chain order"), files})
	}
	s := section{ID: "integrity", Title: "Integrity attestation", Level: 2,
		Paras: []para{text("What gatehouse verify finds when it recomputes the SHA-256 chain of the files: every edited, inserted, deleted, reordered or truncated record breaks it.")},
		Table: &table{Head: []string{"check", "result"}, Rows: rows},
	}
	if len(c.Warnings) == 0 {
		s.Notes = []para{text("The verifier reported no warnings.")}
	} else {
		s.Notes = []para{text("Warnings from the verifier:")}
		for _, w := range c.Warnings {
			s.List = append(s.List, text(w))
		}
	}
	return s
}

func (r *Report) agentsSection() section {
	s := section{ID: "agents", Title: "Activity by agent", Level: 2,
		Paras: []para{text("Decisions per agent, split by the effect applied. Forwarded counts allow, redact and patch; held counts require_approval.")}}
	if len(r.Agents) == 0 {
		s.Notes = []para{text("No decisions.")}
		return s
	}
	t := &table{Head: []string{"agent", "roles", "decisions", "forwarded", "denied", "held", "killed", "threats", "tools", "first", "last"},
		Numeric: numeric(11, 2, 3, 4, 5, 6, 7, 8)}
	for _, a := range r.Agents {
		roles := strings.Join(a.Roles, ", ")
		if roles == "" {
			roles = "-"
		}
		t.Rows = append(t.Rows, row(name(a.Name), roles, itoa(a.Decisions), itoa(a.Forwarded), itoa(a.Denied),
			itoa(a.Held), itoa(a.Killed), itoa(a.Threats), itoa(a.Tools), stamp(a.First), stamp(a.Last)))
	}
	s.Table = t
	return s
}

func (r *Report) tenantsSection() section {
	s := section{ID: "tenants", Title: "Activity by tenant", Level: 2}
	if len(r.Tenants) == 0 {
		s.Notes = []para{text("No decisions.")}
		return s
	}
	t := &table{Head: []string{"tenant", "agents", "decisions", "forwarded", "denied", "held", "killed", "threats", "first", "last"},
		Numeric: numeric(10, 1, 2, 3, 4, 5, 6, 7)}
	for _, a := range r.Tenants {
		t.Rows = append(t.Rows, row(name(a.Name), itoa(a.Agents), itoa(a.Decisions), itoa(a.Forwarded), itoa(a.Denied),
			itoa(a.Held), itoa(a.Killed), itoa(a.Threats), stamp(a.First), stamp(a.Last)))
	}
	s.Table = t
	return s
}

// countSection is a subsection with a table of counts, or a note when there are none.
func countSection(id, title, what string, cs []Count, of int, empty string) section {
	s := section{ID: id, Title: title, Level: 3}
	if len(cs) == 0 {
		s.Notes = []para{text(empty)}
		return s
	}
	t := &table{Head: []string{what, "decisions", "share"}, Numeric: numeric(3, 1, 2)}
	for _, c := range cs {
		t.Rows = append(t.Rows, row(name(c.Key), itoa(c.N), share(c.N, of)))
	}
	s.Table = t
	return s
}

func (r *Report) decisionSections() []section {
	n := r.Records.Decisions
	out := []section{
		{ID: "decisions", Title: "Decisions", Level: 2, Paras: []para{text(fmt.Sprintf("Decision records: %d.", n))}},
		countSection("effects", "By effect applied", "effect", r.Effects, n, "No decisions."),
		countSection("would", "Monitor mode: effects that would have applied", "would-be effect", r.Would, n,
			"No decision was computed in monitor mode."),
		countSection("engines", "By deciding engine or stage", "engine", r.Engines, n, "No decisions."),
	}
	rules := section{ID: "rules", Title: "By rule", Level: 3}
	if len(r.Rules) == 0 {
		rules.Notes = []para{text("No decisions.")}
	} else {
		t := &table{Head: []string{"engine", "rule", "effect", "decisions"}, Numeric: numeric(4, 3)}
		for _, rc := range r.Rules {
			t.Rows = append(t.Rows, row(name(rc.Engine), name(rc.Rule), name(rc.Effect), itoa(rc.N)))
		}
		rules.Table = t
		rules.Notes = []para{text("A rule of (none) is an engine's default decision, or a refusal made before any engine (identity, limits, kill switch).")}
	}
	out = append(out, rules,
		countSection("methods", "By MCP method", "method", r.Methods, n, "No decisions."))
	tools := countSection("tools", "By tool, prompt or resource", "tool", r.Tools, n, "No decision named a tool, prompt or resource.")
	if len(r.Tools) > maxToolRows {
		tools.Table.Rows = tools.Table.Rows[:maxToolRows]
		tools.Notes = []para{text(fmt.Sprintf("The %d most used of %d are shown.", maxToolRows, len(r.Tools)))}
	}
	out = append(out, tools, countSection("statuses", "By outcome", "status", r.Statuses, n, "No decisions."))
	return out
}

func (r *Report) codesSection() section {
	s := section{ID: "codes", Title: "Refusals, holds and kills by reason code", Level: 2,
		Paras: []para{text("Every decision that was not simply forwarded carries a stable reason code (docs/errors.md).")}}
	if len(r.Codes) == 0 {
		s.Notes = []para{text("No decision carries a reason code.")}
		return s
	}
	t := &table{Head: []string{"code", "decisions", "meaning"}, Numeric: numeric(3, 1)}
	for _, c := range r.Codes {
		t.Rows = append(t.Rows, row(c.Key, itoa(c.N), codeMeaning[c.Key]))
	}
	s.Table = t
	return s
}

func (r *Report) threatSection() section {
	th := &r.Threats
	s := section{ID: "threats", Title: "Threat rollup", Level: 2,
		Paras: []para{text(fmt.Sprintf("Decisions whose messages the threat scanner flagged: %d. Decisions refused with code threat_detected: %d, of which computed in monitor mode only: %d.",
			th.Flagged, th.Detected, th.Monitor))},
		Notes: []para{text("A decision is flagged when the scanner's score for its arguments or result reached the scanner's threshold; the record names the score and the scanner rules that matched (audit schema v2). What the policy then did is the effect: the shipped example policy holds flagged calls for approval rather than refusing them. Logs written before schema v2 carry only refusals.")},
	}
	if th.Flagged > 0 || th.Detected > 0 {
		t := &table{Head: []string{"by", "name", "decisions"}, Numeric: numeric(3, 2)}
		for _, g := range []struct {
			by string
			cs []Count
		}{{"effect applied", th.ByEffect}, {"scanner rule", th.ByRule}, {"refusing engine", th.ByEngine}, {"agent", th.ByAgent}, {"tool", th.ByTool}} {
			for _, c := range g.cs {
				t.Rows = append(t.Rows, row(g.by, name(c.Key), itoa(c.N)))
			}
		}
		s.Table = t
	}
	return s
}

func (r *Report) approvalsSection() section {
	s := section{ID: "approvals", Title: "Approvals", Level: 2,
		Paras: []para{text(fmt.Sprintf("Decisions held for a human, each with an approval id: %d.", len(r.Approvals)))}}
	if len(r.Approvals) == 0 {
		return s
	}
	t := &table{Head: []string{"time", "seq", "approval id", "agent", "tenant", "tool", "effect", "code", "status"}, Numeric: numeric(9, 1)}
	for i, a := range r.Approvals {
		if i == maxApprovalRows {
			s.Notes = []para{text(fmt.Sprintf("The first %d of %d are shown.", maxApprovalRows, len(r.Approvals)))}
			break
		}
		cells := row(stamp(a.Time), strconv.FormatUint(a.Seq, 10), "", name(a.Agent), name(a.Tenant), name(a.Tool), name(a.Effect), name(a.Code), name(a.Status))
		cells[2] = para{code(a.ApprovalID)}
		t.Rows = append(t.Rows, cells)
	}
	s.Table = t
	return s
}

// maxChangeRows bounds the events listed; the counts cover them all.
const maxChangeRows = 200

func (r *Report) eventsSections() []section {
	s := section{ID: "events", Title: "Operator changes and tool definitions", Level: 2,
		Paras: []para{text(fmt.Sprintf("Event records: %d. They record what decided the decisions above: "+
			"allowlist changes and tool approvals made through the admin API, and tool definitions first seen, "+
			"changed (a rug pull: quarantined) or restored.", r.Records.Events))}}
	if len(r.EventKinds) == 0 {
		return []section{s}
	}
	kinds := &table{Head: []string{"event", "records"}, Numeric: numeric(2, 1)}
	for _, c := range r.EventKinds {
		kinds.Rows = append(kinds.Rows, row(name(c.Key), itoa(c.N)))
	}
	s.Table = kinds
	if len(r.Changes) == 0 {
		return []section{s}
	}
	sub := section{ID: "changes", Title: "Changes and quarantines", Level: 3}
	t := &table{Head: []string{"time", "seq", "event", "tenant", "upstream", "tool", "by", "effect", "detail"}, Numeric: numeric(9, 1)}
	for i, e := range r.Changes {
		if i == maxChangeRows {
			sub.Notes = []para{text(fmt.Sprintf("The first %d of %d changes are shown.", maxChangeRows, len(r.Changes)))}
			break
		}
		t.Rows = append(t.Rows, row(stamp(e.Time), strconv.FormatUint(e.Seq, 10), name(e.Method), name(e.Tenant),
			name(e.Upstream), name(e.Tool), name(e.User), name(e.Effect), name(e.Detail)))
	}
	sub.Table = t
	return []section{s, sub}
}
