package rego

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestEvaluatorChoice(t *testing.T) {
	if name, why := starter(t).Evaluator(); name != "plan" {
		t.Errorf("starter policies: evaluator %s (%s), want plan", name, why)
	}
	d := compile(t, map[string]string{"policy.rego": "package gatehouse\n\ndecision := {\"allow\": true}\n"}, Options{Evaluator: EvaluatorTopdown})
	if name, why := d.Evaluator(); name != EvaluatorTopdown || !strings.Contains(why, "configured") {
		t.Errorf("evaluator topdown configured: got %s (%s)", name, why)
	}
	// OPA's evaluator finds data[1] under the member "1"; a plan would not, so such a bundle is
	// left to OPA's evaluator, and decides as OPA does.
	d = compile(t, map[string]string{
		"policy.rego":         "package gatehouse\n\ndecision := {\"allow\": data.flags[1]}\n",
		"gatehouse/data.json": `{"x": 1}`,
		"flags/data.json":     `{"1": true}`,
	}, Options{})
	if name, why := d.Evaluator(); name != EvaluatorTopdown || !strings.Contains(why, `"1"`) {
		t.Errorf("data with a member named 1: got %s (%s), want topdown and why", name, why)
	}
	if v, err := d.Decide(context.Background(), call(t, "echo", `{}`)); err != nil || v.Effect != policy.EffectAllow {
		t.Errorf("data.flags[1]: got %+v (%v), want allow", v, err)
	}
	b, err := readBundle(t, map[string]string{"policy.rego": "package gatehouse\n\ndecision := {\"allow\": true}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), b, Options{Evaluator: "wasm"}); err == nil || !strings.Contains(err.Error(), `"wasm"`) {
		t.Errorf("evaluator wasm: got %v, want a refusal naming it", err)
	}
}

// differential compiles the differential test policy (testdata/differential) for the plan
// evaluator and for OPA's.
func differential(t testing.TB) [2]*Decider {
	t.Helper()
	files := map[string]string{}
	for _, name := range []string{"policy.rego", "data.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "differential", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(raw)
	}
	return [2]*Decider{compile(t, files, Options{}), compile(t, files, Options{Evaluator: EvaluatorTopdown})}
}

// FuzzPlanMatchesTopdown decides arbitrary calls and results with the starter policies and with a
// policy that uses much of Rego (testdata/differential), once by OPA's evaluator and once by the plan
// evaluator, and requires the same verdict, or an error from both.
func FuzzPlanMatchesTopdown(f *testing.F) {
	for _, seed := range []struct{ tool, args, role, result string }{
		{"search.query", `{"q": "quarterly revenue", "limit": 50, "filters": {"region": "eu"}}`, "dev", ``},
		{"database.backup", `{"target": "s3://b"}`, "dev", ``},
		{"database.backup", `{"target": "s3://b"}`, "admin", ``},
		{"temp.convert", `{"temp": -500}`, "dev", ``},
		{"temp.convert", `{"temp": "hot", "limit": 0}`, "dev", ``},
		{"http.post", `{"headers": {"x-api-key": "k-123"}, "a": "AKIAABCDEFGHIJKLMNOP"}`, "dev", ``},
		{"admin.drop", `{"a": {"b": {"c": {"d": 1}}}}`, "", ``},
		{"shell.exec", `{"cmd": "LOUD NOISES", "n": -1, "m": -2.5}`, "ops", ``},
		{"ansi", `{}`, "dev", `{"content": [{"type": "text", "text": "\u001b[31mALERT secret\u001b[0m"}]}`},
		{"ansi", `{}`, "dev", `{"content": [{"type": "image", "data": "x"}, {"text": 5}]}`},
	} {
		f.Add(seed.tool, seed.args, seed.role, seed.result)
	}
	deciders := [][2]*Decider{differential(f), {starter(f), compileStarter(f, Options{Evaluator: EvaluatorTopdown})}}
	for _, d := range deciders {
		if name, why := d[0].Evaluator(); name != "plan" {
			f.Fatalf("the plan evaluator is not used (%s)", why)
		}
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tool, args, role, res string) {
		a, ok := decodeJSON([]byte(args))
		obj, isObj := a.(map[string]any)
		if !ok || !isObj {
			return
		}
		p := policy.Principal{ID: "alice", Roles: strings.Fields(role), Claims: map[string]any{}}
		in := &policy.Input{Kind: "tools/call", Phase: policy.PhaseRequest, User: p, Agent: p,
			Tool: policy.Tool{Name: tool, Server: "upstream", Args: obj}}
		if res != "" {
			r, ok := decodeJSON([]byte(res))
			if !ok {
				return
			}
			in.Phase, in.Response = policy.PhaseResponse, r
		}
		for _, d := range deciders {
			got, gotErr := d[0].Decide(ctx, in)
			want, wantErr := d[1].Decide(ctx, in)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s %s (%q, result %s): plan error %v, topdown error %v", tool, args, role, res, gotErr, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s %s (%q, result %s): (-topdown +plan):\n%s", tool, args, role, res, diff)
			}
		}
	})
}
