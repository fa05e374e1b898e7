package pack

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// The decisions of the pack's decision contract (SPEC §6.2).
const (
	Allow             = "allow"
	AllowScopedBranch = "allow_scoped_branch"
	AllowScopedTicket = "allow_scoped_ticket"
	HoldForApproval   = "hold_for_approval"
	Deny              = "deny"
	KillSession       = "kill_session"
)

var decisions = []string{Allow, AllowScopedBranch, AllowScopedTicket, HoldForApproval, Deny, KillSession}

// Decisions lists the six decisions of the pack's contract.
func Decisions() []string { return slices.Clone(decisions) }

// approvalWords are the statuses that make a human approval record an approval.
var approvalWords = []string{"approved", "approve", "allow", "allowed", "accepted", "true"}

// Result is the evaluator's answer for one runtime request.
type Result struct {
	Decision   string
	Reason     string
	Violations []string
	// WorkflowID is the workflow the request named, when the pack declares it; ScopeID the
	// declared tool scope that matched ("" when none did).
	WorkflowID string
	ScopeID    string
	// Doc is the whole answer in the published evaluator's shape, for gatehouse pack eval.
	Doc *Object
}

// Allowed reports whether the decision lets the call through.
func (r *Result) Allowed() bool {
	return r.Decision == Allow || r.Decision == AllowScopedBranch || r.Decision == AllowScopedTicket
}

// Evaluate decides one runtime request (an object of the attributes of SPEC §6.3) exactly as the
// published evaluator's evaluate_policy_decision does. It errors only where that function raises
// on its input: a diff_line_count that int() cannot read.
func (p *Pack) Evaluate(runtime *Object) (*Result, error) { return p.evaluate(runtime, true) }

// evaluate is Evaluate, building the printed answer (Result.Doc) only when withDoc is set: the
// gateway needs the decision, the reason and the violations.
func (p *Pack) evaluate(runtime *Object, withDoc bool) (*Result, error) {
	request := runtime.clone()
	var paths []any
	for _, path := range asList(request.get("changed_paths")) {
		if strip(str(path)) != "" {
			paths = append(paths, normalizePath(str(path)))
		}
	}
	if paths == nil {
		paths = []any{}
	}
	request.Set("changed_paths", paths)
	diff, err := toInt(or(request.get("diff_line_count"), Number("0")))
	if err != nil {
		return nil, fmt.Errorf("diff_line_count: int() cannot read %s", repr(request.get("diff_line_count")))
	}
	request.Set("diff_line_count", Number(diff.String()))

	e := evaluation{pack: p, request: request, withDoc: withDoc}
	workflowID := strip(strOr(request.get("workflow_id"), ""))
	if workflowID == "" {
		return e.result(Deny, "workflow_id is required", "missing workflow_id"), nil
	}
	policy := p.policies[workflowID]
	if policy == nil {
		return e.result(Deny, "workflow_id is not declared in the gateway policy pack", "unknown workflow_id: "+workflowID), nil
	}
	e.policy, e.workflowID = policy, workflowID

	killSignal := strip(strOr(or(request.get("runtime_kill_signal"), request.get("triggered_kill_signal")), ""))
	if killSignal != "" {
		var violations []string
		if !slices.Contains(strList(objGet(policy.get("runtime_controls"), "kill_signals")), killSignal) {
			violations = append(violations, "unregistered kill signal: "+killSignal)
		}
		return e.result(KillSession, "runtime kill signal fired", violations...), nil
	}

	var violations []string
	if contract, _ := p.root.get("decision_contract").(*Object); !isString(contract.get("default_decision"), Deny) {
		violations = append(violations, "policy pack default_decision is not deny")
	}
	if !isString(policy.get("default_decision"), Deny) {
		violations = append(violations, "workflow policy default_decision is not deny")
	}
	if !isString(policy.get("status"), "active") {
		violations = append(violations, fmt.Sprintf("workflow status is %s, not active", repr(policy.get("status"))))
	}
	for _, key := range []string{"agent_id", "run_id", "tool_namespace", "tool_access_mode", "gate_phase"} {
		if strip(strOr(request.get(key), "")) == "" {
			violations = append(violations, key+" is required")
		}
	}

	gatePhase := strip(strOr(request.get("gate_phase"), ""))
	if gatePhase != "" && !slices.Contains(gatePhases(policy), gatePhase) {
		violations = append(violations, fmt.Sprintf("gate_phase %s is not declared for workflow", reprString(gatePhase)))
	}

	var allowed []string
	for _, agent := range listOf(objGet(policy.get("identity"), "allowed_agents")) {
		allowed = append(allowed, lower(str(agent)))
	}
	agentClass := deriveAgentClass(strOr(request.get("agent_id"), ""), allowed, request.get("agent_class"))
	request.Set("agent_class", agentClass)
	if !slices.Contains(allowed, agentClass) {
		violations = append(violations, fmt.Sprintf("agent_class %s is not allowed for workflow", reprString(agentClass)))
	}

	namespace := strip(strOr(request.get("tool_namespace"), ""))
	accessMode := strip(strOr(request.get("tool_access_mode"), ""))
	for _, s := range listOf(or(objGet(policy.get("tool_access"), "allowed_mcp_scopes"), []any{})) {
		if scope, ok := s.(*Object); ok && str(scope.get("namespace")) == namespace && str(scope.get("access")) == accessMode {
			e.scope = scope
			break
		}
	}
	if e.scope == nil {
		violations = append(violations, fmt.Sprintf("tool scope %s:%s is not allowed", namespace, accessMode))
	}
	if len(violations) > 0 {
		return e.result(Deny, "runtime request failed gateway policy checks", violations...), nil
	}

	changeClass := strip(strOr(request.get("change_class"), ""))
	globals, _ := or(p.root.get("global_defaults"), &Object{}).(*Object)
	manual := strList(globals.getOr("manual_review_required_for", []any{}))
	e.approvalPresent = approvalSatisfied(request.get("human_approval_record"), 0)
	if changeClass != "" && slices.Contains(manual, changeClass) && !e.approvalPresent {
		e.approvalRequired = true
		return e.result(HoldForApproval, "change class requires a typed human approval record"), nil
	}

	scopeDecision := str(e.scope.get("decision"))
	if scopeDecision == HoldForApproval && !e.approvalPresent {
		e.approvalRequired = true
		return e.result(HoldForApproval, "tool scope requires a typed human approval record"), nil
	}

	if scopeDecision == AllowScopedBranch {
		violations = p.branchViolations(policy, request, diff)
		if len(violations) > 0 {
			return e.result(Deny, "scoped branch write failed path, branch, or diff limits", violations...), nil
		}
	}

	if scopeDecision == HoldForApproval { // and an approval is present
		e.approvalRequired = true
		return e.result(Allow, "approval-required tool scope has a typed approval record"), nil
	}
	e.approvalRequired = scopeDecision == HoldForApproval
	return e.result(scopeDecision, "runtime request satisfies gateway policy"), nil
}

// branchViolations checks a write_branch call against the workflow's branch prefix and change scope.
func (p *Pack) branchViolations(policy, request *Object, diff *big.Int) []string {
	var violations []string
	branch := strip(strOr(request.get("branch_name"), ""))
	paths := request.get("changed_paths").([]any)
	scope, _ := or(policy.get("change_scope"), &Object{}).(*Object)
	prefix := strOr(objGet(policy.get("dispatch"), "required_branch_prefix"), "")
	if !strings.HasPrefix(branch, prefix) {
		violations = append(violations, fmt.Sprintf("branch_name must start with %s", reprString(prefix)))
	}
	if len(paths) == 0 {
		violations = append(violations, "changed_paths are required for write_branch access")
	}
	maxFiles, _ := toInt(or(scope.get("max_changed_files"), Number("0"))) // checked when loaded
	if big.NewInt(int64(len(paths))).Cmp(maxFiles) > 0 {
		violations = append(violations, "changed_paths exceeds max_changed_files")
	}
	maxDiff, _ := toInt(or(scope.get("max_diff_lines"), Number("0")))
	if diff.Cmp(maxDiff) > 0 {
		violations = append(violations, "diff_line_count exceeds max_diff_lines")
	}
	forbiddenGlobs := listOf(or(scope.get("forbidden_paths"), []any{}))
	allowedGlobs := listOf(or(scope.get("allowed_paths"), []any{}))
	var forbidden, outside []any
	for _, path := range paths {
		if p.matchesAny(str(path), forbiddenGlobs) {
			forbidden = append(forbidden, path)
		}
	}
	if forbidden != nil {
		violations = append(violations, "changed_paths hit forbidden paths: "+repr(forbidden))
	}
	for _, path := range paths {
		if !p.matchesAny(str(path), allowedGlobs) {
			outside = append(outside, path)
		}
	}
	if outside != nil {
		violations = append(violations, "changed_paths outside allowed paths: "+repr(outside))
	}
	return violations
}

// evaluation is what the answer of one request is built from.
type evaluation struct {
	pack                              *Pack
	request                           *Object
	policy, scope                     *Object
	workflowID                        string
	approvalRequired, approvalPresent bool
	withDoc                           bool
}

// result builds the answer in the shape of the published evaluator's decision_result.
func (e *evaluation) result(decision, reason string, violations ...string) *Result {
	r := &Result{Decision: decision, Reason: reason, Violations: violations, WorkflowID: e.workflowID}
	if e.scope != nil {
		r.ScopeID = str(e.scope.get("scope_id"))
	}
	if !e.withDoc {
		return r
	}
	var matchedPolicy, matchedScope any
	var prLabel any
	if e.policy != nil {
		matchedPolicy = object(
			"maturity_stage", e.policy.get("maturity_stage"),
			"public_path", e.policy.get("public_path"),
			"status", e.policy.get("status"),
			"title", e.policy.get("title"),
			"workflow_id", e.policy.get("workflow_id"))
		prLabel = objGet(e.policy.getOr("dispatch", &Object{}), "required_pr_label")
	}
	if e.scope != nil {
		matchedScope = e.scope
	}
	var observed []any
	names := e.request.Names()
	slices.Sort(names)
	for _, n := range names {
		if !blank(e.request.get(n)) {
			observed = append(observed, n)
		}
	}
	if observed == nil {
		observed = []any{}
	}
	req := e.request
	sourceManifest, _ := or(e.pack.root.get("source_manifest"), &Object{}).(*Object)
	r.Doc = object(
		"allowed", r.Allowed(),
		"approval_present", e.approvalPresent,
		"approval_required", e.approvalRequired,
		"decision", decision,
		"evidence", object(
			"observed_runtime_attributes", observed,
			"policy_generated_at", e.pack.root.get("generated_at"),
			"policy_id", e.pack.root.get("policy_id"),
			"required_pr_label", prLabel,
			"source_manifest_sha256", sourceManifest.get("sha256")),
		"matched_policy", matchedPolicy,
		"matched_scope", matchedScope,
		"reason", reason,
		"request", object(
			"agent_class", req.get("agent_class"),
			"agent_id", req.get("agent_id"),
			"branch_name", req.get("branch_name"),
			"changed_paths", or(req.get("changed_paths"), []any{}),
			"diff_line_count", req.get("diff_line_count"),
			"gate_phase", req.get("gate_phase"),
			"run_id", req.get("run_id"),
			"tool_access_mode", req.get("tool_access_mode"),
			"tool_namespace", req.get("tool_namespace"),
			"workflow_id", req.get("workflow_id")),
		"violations", strings2any(violations))
	return r
}

// object builds an Object from name, value pairs.
func object(pairs ...any) *Object {
	o := &Object{}
	for i := 0; i < len(pairs); i += 2 {
		o.Set(pairs[i].(string), pairs[i+1])
	}
	return o
}

// objGet is (v or {}).get(name) for a value the pack's validation has made an object or falsy.
func objGet(v any, name string) any {
	o, _ := v.(*Object)
	return o.get(name)
}

// isString reports whether v == s in Python: only the string s.
func isString(v any, s string) bool {
	x, ok := v.(string)
	return ok && x == s
}

// listOf is a list the pack's validation has made a list or falsy.
func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// strList is [str(x) for x in v] over such a list.
func strList(v any) []string {
	var out []string
	for _, x := range listOf(v) {
		out = append(out, str(x))
	}
	return out
}

// asList is the evaluator's as_list: None is [], a list itself, anything else a list of one.
func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

// gatePhases are the phases of the workflow's gate contract.
func gatePhases(policy *Object) []string {
	var out []string
	for _, item := range listOf(policy.getOr("gate_contract", []any{})) {
		if o, ok := item.(*Object); ok {
			out = append(out, str(o.get("phase")))
		}
	}
	return out
}

// normalizePath makes a path relative with forward slashes: backslashes become slashes, white
// space around and any leading "./" and "/" go.
func normalizePath(path string) string {
	v := path
	if strings.Contains(v, `\`) {
		v = strings.ReplaceAll(v, `\`, "/")
	}
	v = strip(v)
	for strings.HasPrefix(v, "./") {
		v = v[2:]
	}
	return strings.TrimLeft(v, "/")
}

// normalizeToken keeps only the ASCII letters and digits of a lower-cased name.
func normalizeToken(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, lower(s))
}

// deriveAgentClass is the agent's class: the one the request states; else the first allowed class
// whose letters and digits appear in the agent id's; else what follows the id's last "::"; else the
// id itself.
func deriveAgentClass(agentID string, allowed []string, explicit any) string {
	if truthy(explicit) {
		return lower(strip(str(explicit)))
	}
	id := normalizeToken(agentID)
	for _, agent := range allowed {
		candidate := lower(strip(agent))
		if t := normalizeToken(candidate); t != "" && strings.Contains(id, t) {
			return candidate
		}
	}
	if i := strings.LastIndex(agentID, "::"); i >= 0 {
		return lower(strip(agentID[i+2:]))
	}
	return lower(strip(agentID))
}

// maxApprovalNesting bounds the JSON-in-a-string unwrapping of an approval record.
const maxApprovalNesting = 32

// approvalSatisfied reports whether a human approval record approves: true, an object whose
// status (or, without one, decision) is an approval word, or a string that is one or that holds such
// a record as JSON.
func approvalSatisfied(record any, depth int) bool {
	switch r := record.(type) {
	case bool:
		return r
	case *Object:
		return slices.Contains(approvalWords, lower(strOr(or(r.get("status"), r.get("decision")), "")))
	case string:
		value := strip(r)
		if value == "" {
			return false
		}
		parsed, err := decodeLenient([]byte(value))
		if err != nil || depth >= maxApprovalNesting {
			return slices.Contains(approvalWords, lower(value))
		}
		return approvalSatisfied(parsed, depth+1)
	}
	return false
}

// matchesAny reports whether path matches one of the globs.
func (p *Pack) matchesAny(path string, globs []any) bool {
	for _, g := range globs {
		if p.matches(path, str(g)) {
			return true
		}
	}
	return false
}

// matches is the evaluator's matches_pattern: the glob against the whole path, or, for a glob that
// starts with "**/", its rest against the path too; a glob that ends with "/**" also matches the
// directory itself and everything under it.
func (p *Pack) matches(path, pattern string) bool {
	path, pattern = normalizePath(path), normalizePath(pattern)
	if path == "" || pattern == "" {
		return false
	}
	if p.glob(pattern)(path) {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "**/"); ok && p.glob(rest)(path) {
		return true
	}
	if dir, ok := strings.CutSuffix(pattern, "/**"); ok {
		dir = strings.TrimRight(dir, "/")
		return path == dir || strings.HasPrefix(path, dir+"/")
	}
	return false
}

// glob returns the matcher of a glob the pack declares (all were compiled when it loaded).
func (p *Pack) glob(pattern string) func(string) bool {
	if m := p.globs[pattern]; m != nil {
		return m
	}
	m, err := globMatcher(pattern)
	if err != nil { // not reached for a loaded pack's globs
		return func(string) bool { return false }
	}
	return m
}
