package plan

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// program plans and compiles the query over modules (name → source) and data.
func program(t *testing.T, query string, modules map[string]string, data ast.Value) *Program {
	t.Helper()
	opts := []func(*opa.Rego){opa.Query(query)}
	for name, src := range modules {
		opts = append(opts, opa.Module(name, src))
	}
	p, err := Plan(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(p, data)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func eval(t *testing.T, prog *Program, input string, opts EvalOptions) ([]*ast.Term, error) {
	t.Helper()
	var in ast.Value
	if input != "" {
		in = ast.MustParseTerm(input).Value
	}
	return prog.Eval(context.Background(), in, opts)
}

func TestRulesOfDataAloneAreFolded(t *testing.T) {
	prog := program(t, "data.p.allow", map[string]string{"p.rego": `package p

roles := {"db.backup": {"admin"}, "db.restore": {"admin", "ops"}}

allow if {
	some r in input.roles
	roles[input.tool][r]
}
`}, nil)
	var folded []string
	for _, fn := range prog.funcs {
		if fn.folded {
			folded = append(folded, fn.name)
		}
	}
	if len(folded) != 1 || !strings.HasSuffix(folded[0], ".roles") {
		t.Fatalf("folded %v, want the roles table alone (allow reads the input)", folded)
	}
	for input, want := range map[string]int{
		`{"tool": "db.restore", "roles": ["ops"]}`:  1,
		`{"tool": "db.backup", "roles": ["ops"]}`:   0,
		`{"tool": "db.backup", "roles": ["admin"]}`: 1,
	} {
		res, err := eval(t, prog, input, EvalOptions{})
		if err != nil || len(res) != want {
			t.Errorf("%s: %v (%v), want %d results", input, res, err, want)
		}
	}
}

func TestWithDisablesFolding(t *testing.T) {
	prog := program(t, "data.p.q", map[string]string{"p.rego": `package p

limit := data.limit

over if input.n > limit

q := [a, b] if {
	a := over with data.limit as 1
	b := object.get({"x": over}, "x", false)
}
`}, ast.MustParseTerm(`{"limit": 10}`).Value)
	for _, fn := range prog.funcs {
		if fn.folded {
			t.Errorf("%s folded in a program that uses with", fn.name)
		}
	}
	// over is true under the with (5 > 1) and undefined without it (5 > 10 is false), so the folded
	// value of limit would give the wrong answer under the with, and no value at all outside it.
	res, err := eval(t, prog, `{"n": 5}`, EvalOptions{})
	if err != nil || len(res) != 0 {
		t.Errorf("n 5: got %v (%v), want undefined", res, err)
	}
	res, err = eval(t, prog, `{"n": 50}`, EvalOptions{})
	if err != nil || len(res) != 1 || !strings.Contains(res[0].String(), "[true, true]") {
		t.Errorf("n 50: got %v (%v), want [true, true]", res, err)
	}
}

func TestCancelStopsLoopsAndBuiltins(t *testing.T) {
	prog := program(t, "data.p.n", map[string]string{"p.rego": `package p

n := count([x | some x in numbers.range(1, input.max); x % 7 == 0])
`}, nil)
	cancel := topdown.NewCancel()
	time.AfterFunc(20*time.Millisecond, cancel.Cancel)
	start := time.Now()
	_, err := eval(t, prog, `{"max": 100000000}`, EvalOptions{Cancel: cancel})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("got %v, want a cancellation error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("stopped %v after a cancel at 20ms", took)
	}
	ctx, stop := context.WithCancel(context.Background())
	stop()
	if _, err := prog.Eval(ctx, ast.MustParseTerm(`{"max": 10}`).Value, EvalOptions{}); err == nil {
		t.Error("a cancelled context evaluated")
	}
}

func TestConflictsAreErrors(t *testing.T) {
	prog := program(t, "data.p.v", map[string]string{"p.rego": `package p

v := 1 if input.a
v := 2 if input.b
`}, nil)
	if _, err := eval(t, prog, `{"a": true, "b": true}`, EvalOptions{}); err == nil || !strings.Contains(err.Error(), "multiple outputs") {
		t.Errorf("got %v, want a conflict error", err)
	}
	if res, err := eval(t, prog, `{"a": true}`, EvalOptions{}); err != nil || len(res) != 1 {
		t.Errorf("one value: got %v (%v)", res, err)
	}
}

func TestPanicIsAnError(t *testing.T) {
	ast.RegisterBuiltin(&ast.Builtin{Name: "test.panics", Decl: types.NewFunction(types.Args(types.A), types.B)})
	topdown.RegisterBuiltinFunc("test.panics", func(topdown.BuiltinContext, []*ast.Term, func(*ast.Term) error) error {
		panic("boom")
	})
	prog := program(t, "data.p.x", map[string]string{"p.rego": "package p\n\nx := test.panics(input)\n"}, nil)
	if _, err := eval(t, prog, `{}`, EvalOptions{}); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("got %v, want the panic as an error", err)
	}
}

func TestClockedBuiltinWithoutTimeIsAnError(t *testing.T) {
	prog := program(t, "data.p.x", map[string]string{"p.rego": "package p\n\nx := time.now_ns()\n"}, nil)
	if !prog.Clocked() {
		t.Fatal("a program calling time.now_ns is not Clocked")
	}
	if _, err := eval(t, prog, `{}`, EvalOptions{}); err == nil || !strings.Contains(err.Error(), "time.now_ns reads the time") {
		t.Errorf("got %v, want an error naming the built-in", err)
	}
	res, err := eval(t, prog, `{}`, EvalOptions{Time: ast.IntNumberTerm(42)})
	if err != nil || len(res) != 1 || !strings.Contains(res[0].String(), "42") {
		t.Errorf("with the time given: got %v (%v)", res, err)
	}
}

func TestUnsupportedIsRefused(t *testing.T) {
	p, err := Plan(context.Background(), opa.Query("data.p.x"), opa.Module("p.rego", "package p\n\nx := data.flags[1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(p, ast.MustParseTerm(`{"flags": {"1": true}}`).Value); err == nil || !strings.Contains(err.Error(), `"1"`) {
		t.Errorf("data with a numeric member: got %v, want ErrUnsupported naming it", err)
	}
}

// A plan that inserts into a value it did not make (here, the input) fails the evaluation and
// leaves the value as it was: values are shared between evaluations.
func TestChangingASharedValueFails(t *testing.T) {
	p := &ir.Policy{
		Static: &ir.Static{Strings: []*ir.StringConst{{Value: "k"}}},
		Plans: &ir.Plans{Plans: []*ir.Plan{{Name: "eval", Blocks: []*ir.Block{{Stmts: []ir.Stmt{
			&ir.ObjectInsertStmt{Key: ir.Operand{Value: ir.StringIndex(0)}, Value: ir.Operand{Value: ir.Bool(true)}, Object: ir.Input},
			&ir.ResultSetAddStmt{Value: ir.Input},
		}}}}}},
	}
	prog, err := Compile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	input := ast.MustParseTerm(`{"a": 1}`).Value
	if _, err := prog.Eval(context.Background(), input, EvalOptions{}); err == nil || !strings.Contains(err.Error(), "of this evaluation's") {
		t.Errorf("got %v, want the insert refused", err)
	}
	if input.(ast.Object).Len() != 1 {
		t.Errorf("the input was changed: %v", input)
	}
}

// not { ... } inside a loop: OPA's planner keeps the body's success from one iteration to the next,
// where OPA's evaluator does not, so such a plan is left to OPA's evaluator.
func TestNotBlockIsRefused(t *testing.T) {
	p, err := Plan(context.Background(), opa.Query("data.p.allow"), opa.Module("p.rego", `package p

import rego.v2

bad contains x if {
	some x in input.xs
	not {
		some y in input.allowed
		y == x
	}
}

allow if count(bad) == 0
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(p, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("got %v, want ErrUnsupported", err)
	}
}

// A rule's value, made by its own call and memoized, is shared with every rule that reads it: a
// plan that adds to it from another rule (overlapping rule heads, which OPA's evaluator reports as a
// conflict) fails the evaluation rather than changing it.
func TestAnotherCallsValueIsNotChanged(t *testing.T) {
	prog := program(t, "data.p.allow", map[string]string{"p.rego": `package p

admins contains x if {
	some x in input.admins
}

q.r := admins

q[k] contains input.user if {
	k := "r"
}

allow if {
	count(q) > 0
	input.user in admins
}
`}, nil)
	res, err := eval(t, prog, `{"user": "mallory", "admins": ["alice"]}`, EvalOptions{})
	if err == nil {
		t.Errorf("got %v, want an error (OPA's evaluator: a conflict)", res)
	}
}
