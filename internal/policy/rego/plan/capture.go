package plan

import (
	"context"
	"errors"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	opa "github.com/open-policy-agent/opa/v1/rego"
)

// target is the name gatehouse's planner target is registered under with OPA's rego package.
const target = "gatehouse-plan"

// OPA hands the plan of a query to the target plugin that claims the query's target; it has no other
// public way to plan a query. capturer is that plugin: it keeps the plan for Build, which holds
// captureMu for the whole preparation so that each plan reaches the Build that asked for it. Planning
// happens when a bundle is loaded, never on the request path, so one at a time costs nothing.
type capturer struct{}

var (
	captureMu sync.Mutex
	captured  *ir.Policy
	register  sync.Once
)

func (capturer) IsTarget(t string) bool { return t == target }

func (capturer) PrepareForEval(_ context.Context, p *ir.Policy, _ ...opa.PrepareOption) (opa.TargetPluginEval, error) {
	captured = p
	return unusedEval{}, nil
}

// unusedEval is what the rego package keeps for the captured target; gatehouse evaluates the plan
// with a Program, never through it.
type unusedEval struct{}

func (unusedEval) Eval(context.Context, *opa.EvalContext, ast.Value) (ast.Value, error) {
	return nil, errors.New("gatehouse plans are evaluated by plan.Program, not through the rego package")
}

// Plan compiles the query described by opts (a compiler, a store, a parsed query: the options the
// caller would prepare a topdown query with) and returns OPA's plan for it.
func Plan(ctx context.Context, opts ...func(*opa.Rego)) (*ir.Policy, error) {
	register.Do(func() { opa.RegisterPlugin(target, capturer{}) })
	captureMu.Lock()
	defer captureMu.Unlock()
	captured = nil
	if _, err := opa.New(append(opts, opa.Target(target))...).PrepareForEval(ctx); err != nil {
		return nil, err
	}
	p := captured
	captured = nil
	if p == nil {
		return nil, errors.New("OPA prepared the query without planning it")
	}
	return p, nil
}
