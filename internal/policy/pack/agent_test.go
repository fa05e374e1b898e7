package pack

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

var agentTools = AgentTools{Policy: "gatehouse.pack_policy", Evaluate: "gatehouse.pack_evaluate", Server: "gatehouse"}

func agentDecider(t *testing.T) *Decider {
	t.Helper()
	d, err := NewDecider(loadPack(t, publishedPack), []Tool{
		{Tool: "git_*", Namespace: "repo.contents", Access: "write_branch", BranchName: "branch", ChangedPaths: "files", DiffLineCount: "lines"},
		{Tool: "quarantine", Namespace: "registries.quarantine", Access: "approval_required", GatePhase: "tool_call"},
		{Tool: "*", Namespace: "advisories.vulnerability", Access: "read"},
	}, agentTools)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// caller is a call of tool by agent, in workflow (from _meta), with a run id and gate phase. The
// agent tools are gatehouse's, other tools the server "repo"'s.
func caller(agent, workflow, tool string, args map[string]any) *policy.Input {
	server := "repo"
	if agentTools.named(tool) {
		server = agentTools.Server
	}
	return &policy.Input{Kind: "tools/call", Phase: policy.PhaseRequest,
		Agent:      policy.Principal{ID: agent, Claims: map[string]any{}},
		Session:    policy.Session{RunID: "run-1", WorkflowID: workflow},
		Tool:       policy.Tool{Name: tool, Server: server, Args: args},
		Attributes: map[string]any{"gate_phase": "tool_call"}}
}

// docOf decodes a tool's answer as a client reads it.
func docOf(t *testing.T, o *Object) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(Dump(o), &m); err != nil {
		t.Fatalf("the answer is not JSON: %v\n%s", err, Dump(o))
	}
	return m
}

func TestAgentPolicy(t *testing.T) {
	d := agentDecider(t)
	const vdr = "vulnerable-dependency-remediation"
	in := caller("sr-agent::"+vdr+"::claude", vdr, agentTools.Policy, nil)
	o, problem := d.AgentPolicy(in, nil)
	if problem != "" {
		t.Fatal(problem)
	}
	doc := docOf(t, o)
	// The workflow's entry is the pack's own, whole.
	var pack struct {
		Workflows []map[string]any `json:"workflow_policies"`
	}
	raw, _ := os.ReadFile(publishedPack)
	if err := json.Unmarshal(raw, &pack); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(pack.Workflows, func(w map[string]any) bool { return w["workflow_id"] == vdr })
	want, _ := json.Marshal(pack.Workflows[i])
	got, _ := json.Marshal(doc["workflow"])
	if string(got) != string(want) {
		t.Errorf("workflow:\n%s\nwant the pack's entry\n%s", got, want)
	}
	if doc["agent_class"] != "claude" || doc["workflow_id"] != vdr || doc["pack_sha256"] != d.pack.SHA256() {
		t.Errorf("header: %v %v %v", doc["agent_class"], doc["workflow_id"], doc["pack_sha256"])
	}
	// Each mapping, with whether this workflow declares its scope and the scope's decision.
	tools, _ := json.Marshal(doc["tools"])
	if string(tools) != `[{"access":"write_branch","allowed":true,"decision":"allow_scoped_branch","namespace":"repo.contents","tool":"git_*"},`+
		`{"access":"approval_required","allowed":false,"decision":null,"namespace":"registries.quarantine","tool":"quarantine"},`+
		`{"access":"read","allowed":true,"decision":"allow","namespace":"advisories.vulnerability","tool":"*"}]` {
		t.Errorf("tools: %s", tools)
	}

	// Without a workflow: the workflows the caller's class may run (devin is allowed in four).
	o, problem = d.AgentPolicy(caller("sr-agent::devin", "", agentTools.Policy, nil), nil)
	if problem != "" {
		t.Fatal(problem)
	}
	var ids []string
	for _, w := range docOf(t, o)["workflows"].([]any) {
		ids = append(ids, w.(map[string]any)["workflow_id"].(string))
	}
	var devin []string
	for _, w := range pack.Workflows {
		if slices.Contains(w["identity"].(map[string]any)["allowed_agents"].([]any), any("devin")) {
			devin = append(devin, w["workflow_id"].(string))
		}
	}
	if len(devin) != 4 || !slices.Equal(ids, devin) {
		t.Errorf("devin's workflows: %v, want %v", ids, devin)
	}

	// The argument names a workflow when nothing binds the caller.
	if o, problem = d.AgentPolicy(caller("claude", "", agentTools.Policy, nil), map[string]any{"workflow_id": "artifact-cache-quarantine"}); problem != "" || docOf(t, o)["workflow_id"] != "artifact-cache-quarantine" {
		t.Errorf("named workflow: %q", problem)
	}

	refused := func(what string, in *policy.Input, args map[string]any, message string) {
		t.Helper()
		o, problem := d.AgentPolicy(in, args)
		if o != nil || !strings.Contains(problem, message) {
			t.Errorf("%s: %q (answered: %v), want a refusal saying %q", what, problem, o != nil, message)
		}
	}
	bound := caller("claude", "", agentTools.Policy, nil)
	bound.Agent.Claims = map[string]any{"workflow_id": vdr}
	refused("another workflow than the token's", bound, map[string]any{"workflow_id": "artifact-cache-quarantine"},
		"your credential binds you to workflow 'vulnerable-dependency-remediation'")
	if _, problem := d.AgentPolicy(bound, map[string]any{"workflow_id": vdr}); problem != "" {
		t.Errorf("the token's own workflow: %s", problem)
	}
	refused("an undeclared workflow", caller("claude", "nope", agentTools.Policy, nil), nil, "workflow 'nope' is not declared")
	refused("a class the workflow does not allow", caller("sr-agent::devin", "sast-finding-remediation", agentTools.Policy, nil), nil,
		"agent class 'devin' may not run workflow 'sast-finding-remediation'")
	classClaim := caller("sr-agent::claude", "sast-finding-remediation", agentTools.Policy, nil)
	classClaim.Agent.Claims = map[string]any{"agent_class": "devin"}
	refused("the token's class outranks the id's", classClaim, nil, "agent class 'devin'")
	refused("an unknown argument", caller("claude", vdr, agentTools.Policy, nil), map[string]any{"workflow": vdr}, "unknown argument 'workflow'")
	refused("a workflow that is not a string", caller("claude", vdr, agentTools.Policy, nil), map[string]any{"workflow_id": json.Number("3")}, "workflow_id must be a string")
}

// TestWhatIfAgreesWithDecide holds the evaluate tool to the decisions of the calls it describes:
// for each call, asking about it gives the verdict the call itself gets.
func TestWhatIfAgreesWithDecide(t *testing.T) {
	d := agentDecider(t)
	const vdr, quarantine = "vulnerable-dependency-remediation", "artifact-cache-quarantine"
	write := func(branch string, lines any, files ...any) map[string]any {
		return map[string]any{"branch": branch, "files": files, "lines": lines}
	}
	cases := []struct {
		name, agent, workflow, tool string
		args, attrs                 map[string]any
		effect                      policy.Effect
	}{
		{"scoped write", "codex", vdr, "git_push", write("sec-auto-remediation/a", json.Number("12"), "go.mod"), nil, policy.EffectAllow},
		{"forbidden path", "codex", vdr, "git_push", write("sec-auto-remediation/a", json.Number("12"), ".github/workflows/x.yml"), nil, policy.EffectDeny},
		{"wrong branch", "codex", vdr, "git_push", write("main", json.Number("1"), "go.mod"), nil, policy.EffectDeny},
		{"climbing path", "codex", vdr, "git_push", write("sec-auto-remediation/a", json.Number("1"), "src/../infra/x"), nil, policy.EffectDeny},
		{"unreadable size", "codex", vdr, "git_push", write("sec-auto-remediation/a", "lots", "go.mod"), nil, policy.EffectDeny},
		{"read", "devin", vdr, "advisories", map[string]any{}, nil, policy.EffectAllow},
		{"held scope", "devin", quarantine, "quarantine", map[string]any{}, nil, policy.EffectRequireApproval},
		{"undeclared phase", "codex", vdr, "advisories", nil, map[string]any{"gate_phase": "deploy"}, policy.EffectDeny},
		{"manual-review class", "codex", vdr, "advisories", nil, map[string]any{"change_class": "database migrations"}, policy.EffectRequireApproval},
		{"class not allowed", "devin", "sast-finding-remediation", "advisories", nil, nil, policy.EffectDeny},
		{"no workflow", "codex", "", "advisories", nil, nil, policy.EffectDeny},
	}
	for _, c := range cases {
		real := caller(c.agent, c.workflow, c.tool, c.args)
		for k, v := range c.attrs {
			real.Attributes[k] = v
		}
		want, _ := d.Decide(context.Background(), real)
		if want.Effect != c.effect {
			t.Fatalf("%s: the call itself is %s (%s), the case expects %s", c.name, want.Effect, want.Reason, c.effect)
		}
		// Asked from a call of the evaluate tool in the same workflow, with the attributes as
		// arguments.
		ask := caller(c.agent, c.workflow, agentTools.Evaluate, nil)
		args := map[string]any{"tool": c.tool}
		if c.args != nil {
			args["arguments"] = c.args
		}
		for k, v := range c.attrs {
			args[k] = v
		}
		o, problem := d.WhatIf(ask, args)
		if problem != "" {
			t.Fatalf("%s: %s", c.name, problem)
		}
		doc := docOf(t, o)
		if doc["effect"] != string(want.Effect) || doc["rule_id"] != want.RuleID || doc["reason"] != want.Reason {
			t.Errorf("%s: asked %v %v %q, the call gets %s %s %q", c.name, doc["effect"], doc["rule_id"], doc["reason"], want.Effect, want.RuleID, want.Reason)
		}
		// Refused before evaluation, or about a workflow the caller may not run: no evaluation.
		ev, evaluated := doc["evaluation"].(map[string]any)
		if slices.Contains([]string{"climbing path", "unreadable size", "class not allowed", "no workflow"}, c.name) {
			if evaluated {
				t.Errorf("%s: has an evaluation", c.name)
			}
		} else if !evaluated || ev["request"].(map[string]any)["agent_id"] != c.agent {
			t.Errorf("%s: evaluation %v", c.name, doc["evaluation"])
		}
	}

	// A token's claims are the caller's: the workflow it binds, the class it names.
	bound := caller("sr-agent::codex", "", agentTools.Evaluate, nil)
	bound.Agent.Claims = map[string]any{"workflow_id": quarantine}
	if _, problem := d.WhatIf(bound, map[string]any{"tool": "advisories", "workflow_id": vdr}); !strings.Contains(problem, "binds you to workflow") {
		t.Errorf("another workflow than the token's: %q", problem)
	}
	o, _ := d.WhatIf(bound, map[string]any{"tool": "advisories"})
	if doc := docOf(t, o); doc["effect"] != "deny" || !strings.Contains(doc["reason"].(string), "tool scope advisories.vulnerability:read is not allowed") {
		t.Errorf("the token's workflow decides: %v", doc)
	}
	for _, c := range []struct {
		args    map[string]any
		message string
	}{
		{map[string]any{}, "tool is required"},
		{map[string]any{"tool": agentTools.Policy}, "one of gatehouse's pack tools"},
		{map[string]any{"tool": "git_push", "arguments": []any{}}, "arguments must be an object"},
		{map[string]any{"tool": "git_push", "runtime_kill_signal": "x"}, "unknown argument 'runtime_kill_signal'"},
		{map[string]any{"tool": "git_push", "run_id": true}, "run_id must be a string"},
	} {
		if o, problem := d.WhatIf(caller("codex", vdr, agentTools.Evaluate, nil), c.args); o != nil || !strings.Contains(problem, c.message) {
			t.Errorf("%v: %q, want a refusal saying %q", c.args, problem, c.message)
		}
	}
	// A run id argument stands in for the call's.
	noRun := caller("codex", vdr, agentTools.Evaluate, nil)
	noRun.Session.RunID = ""
	o, _ = d.WhatIf(noRun, map[string]any{"tool": "advisories"})
	if doc := docOf(t, o); doc["effect"] != "deny" || !strings.Contains(doc["reason"].(string), "run_id is required") {
		t.Errorf("no run id: %v", doc["reason"])
	}
	o, _ = d.WhatIf(noRun, map[string]any{"tool": "advisories", "run_id": "run-9"})
	if doc := docOf(t, o); doc["effect"] != "allow" {
		t.Errorf("with a run id argument: %v", doc["reason"])
	}
}

func TestAgentToolsAreThePacksToAllow(t *testing.T) {
	d := agentDecider(t)
	const vdr = "vulnerable-dependency-remediation"
	for _, name := range []string{agentTools.Policy, agentTools.Evaluate} {
		// Not mapped to a scope (the "*" mapping would map them), yet allowed and listed.
		v, _ := d.Decide(context.Background(), caller("codex", "", name, nil))
		if v.Effect != policy.EffectAllow {
			t.Errorf("%s: %+v", name, v)
		}
		if ok, _ := d.Visible(context.Background(), &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: name, Server: "gatehouse"}}); !ok {
			t.Errorf("%s is not listed", name)
		}
		// A kill signal on the call kills the session, as on any call of the workflow.
		killed := caller("codex", vdr, name, nil)
		killed.Attributes["runtime_kill_signal"] = "resolver edits files outside declared package scope"
		if v, _ := d.Decide(context.Background(), killed); v.Effect != policy.EffectKillSession || v.RuleID != vdr {
			t.Errorf("%s with a kill signal: %+v", name, v)
		}
	}
	// Not served: the names are tools like any other, denied without a mapping.
	plain, err := NewDecider(loadPack(t, publishedPack), nil, AgentTools{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := plain.Decide(context.Background(), caller("codex", vdr, agentTools.Policy, nil)); v.Effect != policy.EffectDeny {
		t.Errorf("not served, yet allowed: %+v", v)
	}
	// Served, a server's own tool by the same name (a federated prefix that ends up spelling it)
	// is an ordinary tool: no mapping, no scope, denied and hidden.
	served, err := NewDecider(loadPack(t, publishedPack), nil, agentTools)
	if err != nil {
		t.Fatal(err)
	}
	imposter := caller("codex", vdr, agentTools.Policy, nil)
	imposter.Tool.Server = "gatehouse_pack"
	if v, _ := served.Decide(context.Background(), imposter); v.Effect != policy.EffectDeny {
		t.Errorf("another server's tool by the agent tool's name: %+v", v)
	}
	if ok, _ := served.Visible(context.Background(), imposter); ok {
		t.Error("another server's tool by the agent tool's name is listed")
	}
}

// TestWhatIfAsksNothingItShouldNot: an ask does not carry its own kill signal into the
// hypothetical call (which would tell whether any workflow registers a signal), does not show the
// evaluator's description of a workflow the caller may not run, and leaves the caller's input, which
// every engine shares, as it was.
func TestWhatIfAsksNothingItShouldNot(t *testing.T) {
	d := agentDecider(t)
	const vdr = "vulnerable-dependency-remediation"
	signal := "resolver edits files outside declared package scope"
	ask := caller("codex", vdr, agentTools.Evaluate, nil)
	ask.Attributes["runtime_kill_signal"] = signal
	ask.Headers = map[string]string{"gatehouse-runtime-kill-signal": signal, "gatehouse-gate-phase": "runtime"}
	attrs, headers := maps.Clone(ask.Attributes), maps.Clone(ask.Headers)
	o, problem := d.WhatIf(ask, map[string]any{"tool": "advisories", "gate_phase": "tool_call"})
	if problem != "" {
		t.Fatal(problem)
	}
	if doc := docOf(t, o); doc["effect"] != "allow" {
		t.Errorf("the ask's kill signal was carried over: %v %v", doc["effect"], doc["reason"])
	}
	if !maps.Equal(attrs, ask.Attributes) || !maps.Equal(headers, ask.Headers) || ask.Tool.Name != agentTools.Evaluate || ask.Session.WorkflowID != vdr {
		t.Errorf("the caller's input changed: %v %v %+v", ask.Attributes, ask.Headers, ask.Tool)
	}
	for _, c := range []struct{ agent, workflow string }{{"devin", "sast-finding-remediation"}, {"codex", "nope"}} {
		o, _ := d.WhatIf(caller(c.agent, c.workflow, agentTools.Evaluate, nil), map[string]any{"tool": "advisories"})
		if doc := docOf(t, o); doc["effect"] != "deny" || doc["evaluation"] != nil {
			t.Errorf("%s in %s: %v, evaluation %v", c.agent, c.workflow, doc["effect"], doc["evaluation"])
		}
	}
}

// FuzzAgentTools feeds the agent tools arguments an agent chose, as JSON: whatever they are, each
// tool answers a JSON document or a refusal, never both, never neither, and the evaluate tool's
// effect is one of the four a call can get.
func FuzzAgentTools(f *testing.F) {
	for _, seed := range []string{`{}`, `{"workflow_id":"vulnerable-dependency-remediation"}`, `{"workflow_id":7}`,
		`{"tool":"git_push","arguments":{"branch":"sec-auto-remediation/x","files":["src/a","../b"],"lines":"1_0"}}`,
		`{"tool":"quarantine","change_class":"database migrations","changed_paths":"src/x","diff_line_count":1e400}`,
		`{"tool":"x","arguments":[],"run_id":"r"}`, `{"tool":"gatehouse.pack_policy"}`, `{"x":1}`} {
		f.Add(seed, "sr-agent::codex", "vulnerable-dependency-remediation")
	}
	d, err := NewDecider(loadPack(f, publishedPack), []Tool{
		{Tool: "git_*", Namespace: "repo.contents", Access: "write_branch", BranchName: "branch", ChangedPaths: "files", DiffLineCount: "lines"},
		{Tool: "quarantine", Namespace: "registries.quarantine", Access: "approval_required"},
	}, agentTools)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, args, agent, workflow string) {
		dec := json.NewDecoder(strings.NewReader(args))
		dec.UseNumber()
		var a map[string]any
		if dec.Decode(&a) != nil {
			return
		}
		in := caller(agent, workflow, agentTools.Evaluate, nil)
		for _, tool := range []func(*policy.Input, map[string]any) (*Object, string){d.AgentPolicy, d.WhatIf} {
			o, problem := tool(in, a)
			if (o == nil) == (problem == "") {
				t.Fatalf("%s: answer %v, refusal %q", args, o != nil, problem)
			}
			if o == nil {
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(Dump(o), &doc); err != nil {
				// json.dumps writes a number too large for a double as Infinity, which is not JSON;
				// the tools refuse to send such an answer.
				if !strings.Contains(string(Dump(o)), "Infinity") {
					t.Fatalf("%s: the answer is not JSON: %v", args, err)
				}
				continue
			}
			if e, ok := doc["effect"]; ok && !slices.Contains([]any{"allow", "deny", "require_approval", "kill_session"}, e) {
				t.Fatalf("%s: effect %v", args, e)
			}
		}
	})
}
