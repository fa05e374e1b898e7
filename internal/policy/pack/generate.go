package pack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// accessDecisions maps a manifest's MCP access mode to the decision of its tool scope.
var accessDecisions = map[string]string{
	"read":              Allow,
	"write_branch":      AllowScopedBranch,
	"write_ticket":      AllowScopedTicket,
	"approval_required": HoldForApproval,
}

// GenerateOptions are what a pack records about its manifest.
type GenerateOptions struct {
	// ManifestPath is the manifest's path as the pack records it (source_manifest.path), with
	// forward slashes.
	ManifestPath string
	// GeneratedAt is the pack's generated_at; empty means the manifest's last_reviewed.
	GeneratedAt string
}

// Generate turns a workflow manifest (SPEC §6.1) into a policy pack, byte for byte as the published
// generator (generate_mcp_gateway_policy.py) does: deterministic, names sorted, the manifest file's
// SHA-256 pinned.
func Generate(manifest []byte, opts GenerateOptions) ([]byte, error) {
	doc, err := Decode(manifest)
	if err != nil {
		return nil, fmt.Errorf("the manifest is not valid JSON: %w", err)
	}
	m, ok := doc.(*Object)
	if !ok {
		return nil, errors.New("the manifest's root must be an object")
	}
	sum := sha256.Sum256(manifest)

	defaults, err := asObject(m.getOr("workflow_defaults", &Object{}), "workflow_defaults")
	if err != nil {
		return nil, err
	}
	phaseList, err := asArray(m.get("required_gate_phases"), "required_gate_phases")
	if err != nil {
		return nil, err
	}
	phases := strList(phaseList)
	workflowList, err := asArray(m.get("workflows"), "workflows")
	if err != nil {
		return nil, err
	}
	var workflows []any
	namespaces, scopeDecisions := map[string]bool{}, map[string]bool{}
	active := 0
	for _, w := range workflowList {
		wo, err := asObject(w, "workflow")
		if err != nil {
			return nil, err
		}
		policy, err := workflowPolicy(wo, defaults, phases)
		if err != nil {
			return nil, err
		}
		if isString(policy.get("status"), "active") {
			active++
		}
		for _, s := range objGet(policy.get("tool_access"), "allowed_mcp_scopes").([]any) {
			namespaces[s.(*Object).get("namespace").(string)] = true
			scopeDecisions[s.(*Object).get("decision").(string)] = true
		}
		workflows = append(workflows, policy)
	}
	if workflows == nil {
		workflows = []any{}
	}
	policyDecisions := slices.Sorted(maps.Keys(scopeDecisions))
	policyDecisions = append(policyDecisions, Deny, KillSession)

	generatedAt := any(opts.GeneratedAt)
	if opts.GeneratedAt == "" {
		generatedAt = str(m.getOr("last_reviewed", ""))
	}
	meanings := []any{}
	for _, d := range [][2]string{
		{Allow, "Read-only context access inside the declared namespace."},
		{AllowScopedBranch, "Write only to the workflow branch prefix and declared file scope."},
		{AllowScopedTicket, "Write only workflow evidence or triage notes to declared ticket systems."},
		{HoldForApproval, "Pause and require a typed human approval record before continuing."},
		{Deny, "Fail closed for undeclared workflows, tools, paths, hosts, or gates."},
		{KillSession, "Disable the active agent session when a runtime kill signal fires."},
	} {
		meanings = append(meanings, object("decision", d[0], "meaning", d[1]))
	}
	pack := object(
		"decision_contract", object(
			"decisions", meanings,
			"default_decision", Deny,
			"required_runtime_attributes", strings2any(RuntimeAttributes)),
		"generated_at", generatedAt,
		"global_defaults", object(
			"default_change_window", defaults.get("default_change_window"),
			"evidence_retention_days", defaults.get("evidence_retention_days"),
			"human_review_required", defaults.getOr("human_review_required", true),
			"manual_review_required_for", defaults.getOr("manual_review_required_for", []any{}),
			"max_open_prs_per_repo", defaults.get("max_open_prs_per_repo"),
			"required_pr_label", defaults.get("required_pr_label"),
			"required_remediation_branch_prefix", defaults.get("branch_prefix")),
		"intent", "Convert SecurityRecipes workflow manifests into an enforceable MCP gateway policy pack "+
			"for scoped tool access, reviewer-gated writes, runtime session disablement, and audit evidence.",
		"policy_id", "security-recipes-mcp-gateway-policy-pack",
		"policy_summary", object(
			"active_workflow_count", Number(fmt.Sprint(active)),
			"mcp_namespace_count", Number(fmt.Sprint(len(namespaces))),
			"policy_decisions", strings2any(policyDecisions),
			"workflow_count", Number(fmt.Sprint(len(workflows)))),
		"schema_version", "1.0",
		"source_manifest", object(
			"last_reviewed", m.get("last_reviewed"),
			"path", opts.ManifestPath,
			"schema_version", m.get("schema_version"),
			"sha256", hex.EncodeToString(sum[:])),
		"standards_alignment", m.getOr("standards_alignment", []any{}),
		"workflow_policies", workflows)
	return append(Dump(pack), '\n'), nil
}

// RuntimeAttributes are the attributes a runtime request carries (SPEC §6.3), as the decision
// contract lists them.
var RuntimeAttributes = []string{
	"workflow_id", "agent_id", "run_id", "tool_namespace", "tool_access_mode",
	"branch_name", "changed_paths", "diff_line_count", "gate_phase", "human_approval_record",
}

// workflowPolicy is the pack's policy for one manifest workflow.
func workflowPolicy(w, defaults *Object, phases []string) (*Object, error) {
	id := strip(str(w.getOr("id", "")))
	if id == "" {
		return nil, errors.New("workflow is missing id")
	}
	owner, err := asObject(w.get("owner"), id+": owner")
	if err != nil {
		return nil, err
	}
	scope, err := asObject(w.get("scope"), id+": scope")
	if err != nil {
		return nil, err
	}
	contexts, err := asArray(w.get("mcp_context"), id+": mcp_context")
	if err != nil {
		return nil, err
	}
	scopes := []any{}
	var holds []any
	for _, c := range contexts {
		co, err := asObject(c, id+": mcp_context item")
		if err != nil {
			return nil, err
		}
		namespace, access := strip(str(co.getOr("namespace", ""))), strip(str(co.getOr("access", "")))
		if namespace == "" || access == "" {
			return nil, fmt.Errorf("%s: every MCP context needs namespace and access", id)
		}
		decision, ok := accessDecisions[access]
		if !ok {
			return nil, fmt.Errorf("%s: unsupported MCP access mode %s", id, reprString(access))
		}
		scopes = append(scopes, object(
			"access", access,
			"decision", decision,
			"namespace", namespace,
			"purpose", strip(str(co.getOr("purpose", ""))),
			"scope_id", id+":"+namespace+":"+access))
		if decision == HoldForApproval {
			holds = append(holds, namespace)
		}
	}
	if holds == nil {
		holds = []any{}
	}
	lists := map[string][]any{}
	for _, name := range []string{"evidence", "kpis", "kill_signals"} {
		if lists[name], err = asArray(w.get(name), id+": "+name); err != nil {
			return nil, err
		}
	}
	allowedPaths, err := asArray(scope.get("allowed_paths"), id+": scope.allowed_paths")
	if err != nil {
		return nil, err
	}
	forbiddenPaths, err := asArray(scope.get("forbidden_paths"), id+": scope.forbidden_paths")
	if err != nil {
		return nil, err
	}
	automation, err := asArray(w.get("automation_first"), id+": automation_first")
	if err != nil {
		return nil, err
	}
	eligible, err := asArray(w.get("eligible_findings"), id+": eligible_findings")
	if err != nil {
		return nil, err
	}
	gates, err := asObject(w.get("gates"), id+": gates")
	if err != nil {
		return nil, err
	}
	gateContract := []any{}
	for _, phase := range phases {
		rules, err := asArray(gates.get(phase), id+": gates."+phase)
		if err != nil {
			return nil, err
		}
		gateContract = append(gateContract, object("phase", phase, "rule_count", Number(fmt.Sprint(len(rules))), "rules", rules))
	}
	agents, err := asArray(w.get("default_agents"), id+": default_agents")
	if err != nil {
		return nil, err
	}
	records := []any{}
	for _, item := range lists["evidence"] {
		if e, ok := item.(*Object); ok {
			records = append(records, object("evidence_owner", e.get("evidence_owner"), "id", e.get("id"), "retention", e.get("retention"), "source", e.get("source")))
		}
	}
	kpis := []any{}
	for _, item := range lists["kpis"] {
		if k, ok := item.(*Object); ok {
			kpis = append(kpis, object("id", k.get("id"), "target", k.get("target")))
		}
	}
	return object(
		"change_scope", object(
			"allowed_paths", allowedPaths,
			"forbidden_paths", forbiddenPaths,
			"max_changed_files", scope.get("max_changed_files"),
			"max_diff_lines", scope.get("max_diff_lines")),
		"default_decision", Deny,
		"dispatch", object(
			"automation_first", automation,
			"eligible_findings", eligible,
			"max_open_prs_per_repo", defaults.get("max_open_prs_per_repo"),
			"required_branch_prefix", defaults.get("branch_prefix"),
			"required_pr_label", defaults.get("required_pr_label")),
		"evidence_contract", object(
			"required_records", records,
			"retention_days_default", defaults.get("evidence_retention_days")),
		"gate_contract", gateContract,
		"identity", object(
			"accountable_team", owner.get("accountable_team"),
			"allowed_agents", agents,
			"escalation", owner.get("escalation"),
			"reviewer_pools", owner.getOr("reviewer_pools", []any{})),
		"kpi_contract", kpis,
		"maturity_stage", w.get("maturity_stage"),
		"public_path", w.get("public_path"),
		"runtime_controls", object(
			"egress_default", "deny_except_declared_mcp_context",
			"kill_signals", lists["kill_signals"],
			"session_disablement_required", true),
		"source_content_path", w.get("content_path"),
		"status", w.get("status"),
		"title", w.get("title"),
		"tool_access", object(
			"allowed_mcp_scopes", scopes,
			"denied_by_default", true,
			"requires_human_approval_for", holds),
		"workflow_id", id), nil
}

func asObject(v any, label string) (*Object, error) {
	o, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("%s must be an object", label)
	}
	return o, nil
}

func asArray(v any, label string) ([]any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list", label)
	}
	return l, nil
}

func strings2any(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
