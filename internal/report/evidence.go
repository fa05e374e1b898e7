package report

import (
	"fmt"
	"strings"
)

// Evidence says what r holds for the control with the given ID, with counts.
func (r *Report) Evidence(controlID string) string {
	code := func(c string) int { return find(r.Codes, c) }
	switch controlID {
	case "agent-identity":
		attributed, agents := 0, 0
		for _, a := range r.Agents {
			if a.Name != "" {
				attributed += a.Decisions
				agents++
			}
		}
		return fmt.Sprintf("decisions attributed to an agent: %d of %d (agents: %d); refused unauthenticated: %d",
			attributed, r.Records.Decisions, agents, code("unauthenticated"))
	case "policy-enforcement":
		rules, rego, pack := find(r.Engines, "rules"), find(r.Engines, "rego"), find(r.Engines, "pack")
		return fmt.Sprintf("decisions by policy engines: %d (rules %d, rego %d, pack %d); policy_deny: %d, validation_failed: %d",
			rules+rego+pack, rules, rego, pack, code("policy_deny"), code("validation_failed"))
	case "budgets-rate-limits":
		return fmt.Sprintf("rate_limited: %d, budget_exceeded: %d", code("rate_limited"), code("budget_exceeded"))
	case "human-approval":
		return fmt.Sprintf("held with an approval id: %d; approval_required: %d, approval_denied: %d, approval_timeout: %d",
			len(r.Approvals), code("approval_required"), code("approval_denied"), code("approval_timeout"))
	case "kill-switch":
		return fmt.Sprintf("kill_session decisions: %d; decisions with code session_killed: %d",
			find(r.Effects, "kill_session"), code("session_killed"))
	case "threat-scanner":
		return fmt.Sprintf("flagged by the scanner: %d; threat_detected: %d (in monitor mode only: %d)", r.Threats.Flagged, r.Threats.Detected, r.Threats.Monitor)
	case "secret-redaction":
		return fmt.Sprintf("redact decisions: %d; decisions with redacted previews: %d", find(r.Effects, "redact"), r.Redacted)
	case "strict-input":
		return fmt.Sprintf("malformed_message: %d, payload_too_large: %d", code("malformed_message"), code("payload_too_large"))
	case "fail-closed":
		return fmt.Sprintf("engine failures: %d (failed closed %d, failed open %d); monitor-mode would-be effects: %d",
			sum(r.FailPostures), find(r.FailPostures, "closed"), find(r.FailPostures, "open"), sum(r.Would))
	case "audit-chain":
		c := &r.Integrity.Chain
		if !r.Integrity.Intact {
			return fmt.Sprintf("NOT INTACT: %s; records verified before the problem: %d", problemText(r), c.Records)
		}
		return fmt.Sprintf("intact: records %d, seq %d..%d, checkpoints %d (signed %d, %s)",
			c.Records, c.FirstSeq, c.LastSeq, c.Checkpoints, c.SignedCheckpoints, signatureState(r))
	case "compliance-evidence":
		return fmt.Sprintf("this report: records %d from files %d", r.Records.Records, len(r.Files))
	}
	return ""
}

// signatureState says whether checkpoint signatures were verified.
func signatureState(r *Report) string {
	c := &r.Integrity.Chain
	switch {
	case !r.Integrity.Intact:
		return "not established: verification stopped at the first problem"
	case c.SignedCheckpoints == 0:
		return "the log is not signed"
	case r.Integrity.KeyID != "":
		return "verified with key " + r.Integrity.KeyID
	}
	return "signatures not verified: no public key given"
}

// problemText is the verifier's problem in one line.
func problemText(r *Report) string {
	if p := r.Integrity.Problem; p != nil {
		return strings.TrimSpace(string(p.Kind) + ": " + p.Error())
	}
	return "unknown problem"
}

func find(cs []Count, key string) int {
	for _, c := range cs {
		if c.Key == key {
			return c.N
		}
	}
	return 0
}

func sum(cs []Count) int {
	n := 0
	for _, c := range cs {
		n += c.N
	}
	return n
}
