package report

// Control is one thing gatehouse does that addresses risks named by the frameworks.
type Control struct {
	// ID is stable, for JSON consumers and cross-references.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Description says what the control does, in terms an auditor can check.
	Description string `json:"description"`
	// Evidence says which audit records show the control at work.
	Evidence string `json:"evidence"`
	// RMF, ASI and NCCoE are the IDs of the framework items the control addresses.
	RMF   []string `json:"nist_ai_rmf"`
	ASI   []string `json:"owasp_asi_2026"`
	NCCoE []string `json:"nccoe"`
}

// Controls returns gatehouse's controls and what each maps to, in a fixed order. The mapping is
// gatehouse's own reading of the frameworks; docs/compliance.md explains every line of it.
func Controls() []Control {
	return []Control{
		{
			ID:          "agent-identity",
			Name:        "Signed agent identity",
			Description: "Every call is attributed to an agent proven by an HMAC-SHA256 or Ed25519 signed, expiring token; a verifier accepts one scheme only (no downgrade), and a call without a valid token is refused unauthenticated.",
			Evidence:    "the agent, user and roles of every decision; refusals with code unauthenticated",
			RMF:         []string{"GOVERN 1.6", "MEASURE 2.8"},
			ASI:         []string{"ASI03", "ASI07", "ASI10"},
			NCCoE:       []string{"identification", "authentication"},
		},
		{
			ID:          "policy-enforcement",
			Name:        "Per-call policy (rules, Rego)",
			Description: "Every request is decided by reviewable policy-as-code before it reaches a server: tool, argument, role and tenant conditions, default deny, and list results cut to the tools the caller may use.",
			Evidence:    "decisions by the rules, rego and pack engines; codes policy_deny and validation_failed",
			RMF:         []string{"GOVERN 1.4", "MANAGE 1.3"},
			ASI:         []string{"ASI02", "ASI03", "ASI05"},
			NCCoE:       []string{"authorization"},
		},
		{
			ID:          "budgets-rate-limits",
			Name:        "Budgets and rate limits",
			Description: "Spending budgets and call rates per session, agent, run or tenant, reserved atomically and counted only for calls that are forwarded.",
			Evidence:    "codes rate_limited and budget_exceeded",
			RMF:         []string{"MANAGE 1.3"},
			ASI:         []string{"ASI02", "ASI08"},
			NCCoE:       []string{"authorization"},
		},
		{
			ID:          "human-approval",
			Name:        "Human approval holds",
			Description: "Policy can hold a call for a human (require_approval); it is forwarded only once a human approves that exact call (a single-use approval bound to its arguments and caller), and every human decision is audited.",
			Evidence:    "decisions with an approval id; codes approval_required, approval_denied and approval_timeout; approvers' decisions (admin/approvals events)",
			RMF:         []string{"GOVERN 3.2", "MAP 3.5"},
			ASI:         []string{"ASI02", "ASI09"},
			NCCoE:       []string{"authorization"},
		},
		{
			ID:          "kill-switch",
			Name:        "Kill switch",
			Description: "A kill_session decision, or an operator, disables a session, run, agent, tenant or everything; every later call in that scope is refused.",
			Evidence:    "decisions with effect kill_session and code session_killed",
			RMF:         []string{"MANAGE 2.4", "MANAGE 4.1"},
			ASI:         []string{"ASI08", "ASI10"},
			NCCoE:       []string{"authorization"},
		},
		{
			ID:          "threat-scanner",
			Name:        "Threat scanner and tool pinning",
			Description: "Arguments, results and tool descriptions are scanned for prompt injection, command injection, secret exfiltration, path traversal, suspicious URLs and tool poisoning; tool definitions are pinned by hash so a changed tool is noticed.",
			Evidence:    "decisions with code threat_detected",
			RMF:         []string{"MEASURE 2.7", "MEASURE 3.1", "MANAGE 3.1"},
			ASI:         []string{"ASI01", "ASI04", "ASI05", "ASI06"},
			NCCoE:       []string{"prompt-injection"},
		},
		{
			ID:          "secret-redaction",
			Name:        "Secret redaction",
			Description: "Secrets are redacted from audit records, logs and error data, and policy can redact arguments and results before they are forwarded or returned.",
			Evidence:    "decisions with effect redact; previews containing [REDACTED]",
			RMF:         []string{"MEASURE 2.10"},
			ASI:         []string{"ASI03"},
		},
		{
			ID:          "strict-input",
			Name:        "Strict protocol input",
			Description: "Malformed, duplicate-key, over-deep and oversize messages are refused and never forwarded, and requests are read through exact-key maps, so policy decides exactly the call the server would run.",
			Evidence:    "codes malformed_message and payload_too_large",
			RMF:         []string{"MEASURE 2.7"},
			ASI:         []string{"ASI02"},
		},
		{
			ID:          "fail-closed",
			Name:        "Fail-closed postures and monitor mode",
			Description: "An engine or state failure refuses by default, an audit log that cannot be written refuses every answer, and monitor mode computes and records decisions without applying them before a policy is enforced.",
			Evidence:    "decisions with a fail posture; would-be effects of monitor mode",
			RMF:         []string{"MEASURE 2.6"},
			ASI:         []string{"ASI08"},
		},
		{
			ID:          "audit-chain",
			Name:        "Tamper-evident audit log",
			Description: "One SHA-256 hash-chained record per decision, fsync'd before the answer is released, with Ed25519-signed checkpoints; gatehouse verify names the first edited, inserted, deleted, reordered or truncated record.",
			Evidence:    "the verified chain: records, sequence range, last hash, signed checkpoints",
			RMF:         []string{"MANAGE 4.3", "MEASURE 2.4", "MEASURE 2.8"},
			ASI:         []string{"ASI10"},
			NCCoE:       []string{"auditing"},
		},
		{
			ID:          "compliance-evidence",
			Name:        "Compliance evidence and control mapping",
			Description: "gatehouse report turns verified audit files into this evidence report; gatehouse controls prints the control mapping.",
			Evidence:    "this report",
			RMF:         []string{"GOVERN 1.5", "MAP 4.2"},
			NCCoE:       []string{"auditing"},
		},
	}
}

// refs returns the item IDs c maps to in framework fw.
func (c *Control) refs(fw string) []string {
	switch fw {
	case NISTAIRMF:
		return c.RMF
	case OWASPASI:
		return c.ASI
	case NCCoE:
		return c.NCCoE
	}
	return nil
}

// coverage maps each item of fw to the IDs of the controls that address it, in control order.
func coverage(fw string, controls []Control) map[string][]string {
	m := map[string][]string{}
	for i := range controls {
		for _, id := range controls[i].refs(fw) {
			m[id] = append(m[id], controls[i].ID)
		}
	}
	return m
}
