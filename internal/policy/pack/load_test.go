package pack

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestLoadRefusesWhatTheEvaluatorCannotRead(t *testing.T) {
	for _, c := range []struct{ name, pack, want string }{
		{"not JSON", `{"workflow_policies": [}`, "not valid JSON"},
		{"duplicate names", `{"workflow_policies": [], "workflow_policies": []}`, "not valid JSON"},
		{"not an object", `[]`, "root must be an object"},
		{"no workflows", `{}`, "workflow_policies: must be a list"},
		{"workflow not an object", `{"workflow_policies": [1]}`, "workflow_policies[0]: must be an object"},
		{"no id", `{"workflow_policies": [{"status": "active"}]}`, "workflow_policies[0].workflow_id: must be a non-empty string"},
		{"numeric id", `{"workflow_policies": [{"workflow_id": 7}]}`, "workflow_id: must be a non-empty string"},
		{"two with one id", `{"workflow_policies": [{"workflow_id": "a"}, {"workflow_id": "a"}]}`, `workflow_policies[1].workflow_id: "a" is declared twice`},
		{"scope decision", `{"workflow_policies": [{"workflow_id": "a", "tool_access": {"allowed_mcp_scopes": [{"namespace": "n", "access": "read", "decision": "maybe"}]}}]}`, "allowed_mcp_scopes[0].decision: 'maybe' is not one of"},
		{"kill signals", `{"workflow_policies": [{"workflow_id": "a", "runtime_controls": {"kill_signals": "stop"}}]}`, "runtime_controls.kill_signals: must be a list"},
		{"runtime controls", `{"workflow_policies": [{"workflow_id": "a", "runtime_controls": "on"}]}`, "runtime_controls: must be an object"},
		{"gate contract", `{"workflow_policies": [{"workflow_id": "a", "gate_contract": null}]}`, "gate_contract: must be a list"},
		{"agents", `{"workflow_policies": [{"workflow_id": "a", "identity": {"allowed_agents": {}}}]}`, "identity.allowed_agents: must be a list"},
		{"limit", `{"workflow_policies": [{"workflow_id": "a", "change_scope": {"max_diff_lines": "250"}}]}`, "change_scope.max_diff_lines: must be an integer"},
		{"float limit", `{"workflow_policies": [{"workflow_id": "a", "change_scope": {"max_changed_files": 8.5}}]}`, "change_scope.max_changed_files: must be an integer"},
		{"paths", `{"workflow_policies": [{"workflow_id": "a", "change_scope": {"allowed_paths": "src/**"}}]}`, "change_scope.allowed_paths: must be a list"},
		{"reversed range", `{"workflow_policies": [{"workflow_id": "a", "change_scope": {"forbidden_paths": ["x", "[z-a]"]}}]}`, "forbidden_paths[1]: glob '[z-a]': the range z-a is reversed"},
		{"dispatch", `{"workflow_policies": [{"workflow_id": "a", "dispatch": null}]}`, "dispatch: must be an object"},
		{"contract", `{"decision_contract": [], "workflow_policies": []}`, "decision_contract: must be an object"},
		{"manual review", `{"global_defaults": {"manual_review_required_for": "x"}, "workflow_policies": []}`, "manual_review_required_for: must be a list"},
	} {
		_, err := Load([]byte(c.pack))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	// Every problem is reported, not only the first.
	_, err := Load([]byte(`{"workflow_policies": [{"workflow_id": "a", "dispatch": 1, "gate_contract": 2}, 3]}`))
	if err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Errorf("want three problems, got %v", err)
	}
	// What Python reads as (v or {}) may be any false value.
	if _, err := Load([]byte(`{"global_defaults": 0, "workflow_policies": [{"workflow_id": "a", "identity": null, "tool_access": "", "change_scope": [], "runtime_controls": false}]}`)); err != nil {
		t.Errorf("false values refused: %v", err)
	}
}

func TestPackIdentity(t *testing.T) {
	data, err := os.ReadFile(publishedPack)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.SHA256() != "bb1dbf00ec5bee173a19dff65266f13d84501b94aca3239019a03d6e09546de2" { // sha256sum of the file
		t.Errorf("sha256 %q", p.SHA256())
	}
	if p.ID() != "security-recipes-mcp-gateway-policy-pack" || len(p.Workflows()) != 8 || p.Workflow("base-image-remediation") == nil {
		t.Errorf("id %q, workflows %v", p.ID(), p.Workflows())
	}
	q, _ := Load(bytes.Replace(data, []byte(`"generated_at": "2026-05-02"`), []byte(`"generated_at": "2026-05-03"`), 1))
	if q.SHA256() == p.SHA256() {
		t.Error("an edited pack has the same hash")
	}
}

// FuzzLoad: no pack file makes the loader or the evaluator panic, and the evaluator's answer always
// prints.
func FuzzLoad(f *testing.F) {
	data, _ := os.ReadFile(publishedPack)
	f.Add(data, []byte(`{"workflow_id":"base-image-remediation","agent_id":"codex","run_id":"r","tool_namespace":"repo.contents","tool_access_mode":"write_branch","gate_phase":"tool_call","changed_paths":["src/a"]}`))
	f.Add([]byte(`{"workflow_policies":[{"workflow_id":"a","change_scope":{"allowed_paths":["[a-c]*","**/x/**"]},"tool_access":{"allowed_mcp_scopes":[{"namespace":"n","access":"w","decision":"allow_scoped_branch"}]}}]}`),
		[]byte(`{"workflow_id":"a","tool_namespace":"n","tool_access_mode":"w","changed_paths":"b/x/y"}`))
	f.Fuzz(func(t *testing.T, packData, requestData []byte) {
		p, err := Load(packData)
		if err != nil {
			return
		}
		v, err := Decode(requestData)
		if err != nil {
			return
		}
		req, ok := v.(*Object)
		if !ok {
			return
		}
		r, err := p.Evaluate(req)
		if err != nil {
			return
		}
		if !slices.Contains(decisions, r.Decision) {
			t.Fatalf("decision %q", r.Decision)
		}
		if _, err := Decode(Dump(r.Doc)); err != nil {
			t.Fatalf("the answer does not print as JSON: %v", err)
		}
	})
}

// FuzzDecodeDump: whatever Decode reads, Dump writes as JSON that reads back to the same print
// (except Python's Infinity, for a number too large for a double, which is not JSON).
func FuzzDecodeDump(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,-0,"\u00e9"],"b":{}}`, `"x\ud83d\ude00"`, `1e400`, `[[[]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		out := Dump(v)
		if bytes.Contains(out, []byte("Infinity")) {
			return
		}
		w, err := Decode(out)
		if err != nil {
			t.Fatalf("Dump wrote %q, which does not read: %v", out, err)
		}
		if again := Dump(w); !bytes.Equal(again, out) {
			t.Fatalf("Dump is not stable: %q then %q", out, again)
		}
	})
}
