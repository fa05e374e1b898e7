package rego

import (
	"context"
	"errors"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// unknowns are the parts of the input a list filter cannot know: the arguments of a call nobody has
// made yet, and the threat score the scanner would give them. The response is not among them: a call
// is allowed or refused in the request phase, where there is no response.
var unknowns = []*ast.Term{
	ast.MustParseTerm("input.tool.args"),
	ast.MustParseTerm("input.prompt.args"),
	ast.MustParseTerm("input.threat"),
}

// visibilityQueries ask whether some input makes the decision a non-refusal: allowed (possibly with
// a patch), or held for approval (a held call can still be made, so its tool is listed).
func visibilityQueries(query string) []string {
	return []string{
		query + `.allow == true`,
		query + `.effect in {"require_approval", "hold_for_approval"}`,
	}
}

// Visible reports whether a caller may use the item in names with arguments and threat unknown (SPEC
// §3.4). It is sound: false only when no arguments and no threat score could get the call allowed or
// held.
//
// First the decision is evaluated with the input as given (empty arguments), rule indexing off and a
// tracer watching every expression: a refusal reached without reading the unknown parts cannot depend
// on them. (Indexing is off because the index would skip rules on argument values without evaluating
// an expression the tracer could see.) When the refusal did read them, OPA's partial evaluation is asked
// whether any residual query could make the decision an allow or a hold; none means hidden. A partial
// evaluation OPA cannot perform answers visible: showing a tool the policy will refuse is the safe side
// of this question, hiding one it would allow is not.
func (d *Decider) Visible(ctx context.Context, in *policy.Input) (bool, error) {
	probe := *in
	probe.Phase, probe.Response = policy.PhaseRequest, nil
	t := &touchTracer{}
	val, err := d.evaluate(ctx, &probe, []opa.EvalOption{opa.EvalQueryTracer(t), opa.EvalRuleIndexing(false)})
	if err != nil {
		return false, err
	}
	v, err := d.verdict(&probe, val)
	if err != nil {
		return false, err
	}
	if !refuses(v.Effect) {
		return true, nil
	}
	if !t.touched {
		return false, nil
	}
	if d.noPartial {
		return true, nil
	}
	input, err := d.input(&probe)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	for _, pq := range d.partials {
		res, err := pq.Partial(ctx, opa.EvalParsedInput(input), opa.EvalParsedUnknowns(unknowns), opa.EvalTransaction(d.txn))
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(ctx.Err(), context.Canceled) {
				return false, err
			}
			return true, nil // too complex to decide: shown
		}
		if len(res.Queries) > 0 {
			return true, nil
		}
	}
	return false, nil
}

func refuses(e policy.Effect) bool {
	return e == policy.EffectDeny || e == policy.EffectKillSession
}

// touchTracer notes whether evaluation read any part of the input that Visible treats as unknown.
type touchTracer struct{ touched bool }

var _ topdown.QueryTracer = (*touchTracer)(nil)

// Enabled implements topdown.QueryTracer: once a read is seen, nothing more needs tracing.
func (t *touchTracer) Enabled() bool { return !t.touched }

// Config implements topdown.QueryTracer.
func (t *touchTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

// TraceEvent implements topdown.QueryTracer: it looks at the references of every expression.
func (t *touchTracer) TraceEvent(evt topdown.Event) {
	if t.touched {
		return
	}
	expr, ok := evt.Node.(*ast.Expr)
	if !ok {
		return
	}
	ast.WalkRefs(expr, func(r ast.Ref) bool {
		if readsUnknown(r) {
			t.touched = true
		}
		return t.touched
	})
}

// readsUnknown reports whether a reference could reach input.tool.args, input.prompt.args or
// input.threat: it names one of them, a prefix of one (input, input.tool), or uses a variable where
// one of them could be.
func readsUnknown(r ast.Ref) bool {
	if len(r) == 0 || !r[0].Equal(ast.InputRootDocument) {
		return false
	}
	if len(r) == 1 {
		return true
	}
	first, ok := r[1].Value.(ast.String)
	if !ok {
		return true
	}
	switch first {
	case "threat":
		return true
	case "tool", "prompt":
		if len(r) == 2 {
			return true
		}
		second, ok := r[2].Value.(ast.String)
		return !ok || second == "args"
	}
	return false
}
