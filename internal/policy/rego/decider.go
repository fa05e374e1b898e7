package rego

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego/plan"
)

// DefaultQuery is the decision a bundle is asked for unless configured otherwise (SPEC §5.3).
const DefaultQuery = "data.gatehouse.decision"

// DefaultTimeout bounds one evaluation unless configured otherwise. A decision takes tens of
// microseconds; the bound exists for the policy that loops, and is generous (a loaded machine can
// stall a goroutine for tens of milliseconds) so that only a broken policy meets it.
const DefaultTimeout = time.Second

// Options tune how a bundle is compiled and evaluated.
type Options struct {
	// Query is the rule the decision is read from, as a reference into data. Default DefaultQuery.
	Query string
	// Timeout bounds one evaluation; a decision that takes longer is an engine error, decided by the
	// engine stage's fail posture. Default DefaultTimeout.
	Timeout time.Duration
	// Evaluator chooses how decisions are evaluated: EvaluatorAuto (the default) runs OPA's compiled
	// plan of the decision when the plan uses only what plan.Program implements, and OPA's
	// tree-walking evaluator otherwise; EvaluatorTopdown always uses OPA's evaluator.
	Evaluator string
}

// The evaluators Options.Evaluator names.
const (
	EvaluatorAuto    = "auto"
	EvaluatorTopdown = "topdown"
)

// Decider is one compiled bundle revision with its prepared queries. It is immutable and safe for
// concurrent use; hot reload replaces the whole Decider (engine.Stage.Swap).
type Decider struct {
	query   string
	ref     ast.Ref
	timeout time.Duration
	eval    opa.PreparedEvalQuery
	// prog is the decision's compiled plan, nil when decisions use eval; planNote says why not.
	prog     *plan.Program
	planNote string
	partials []opa.PreparedPartialQuery
	// noPartial is set when a visibility query could not be prepared.
	noPartial bool
	revision  string
	members   memberSet // the input members the policy can read
	// txn is one read transaction on the bundle's store, shared by every evaluation: nothing ever
	// writes to the store, and a read transaction of OPA's in-memory store only reads.
	txn storage.Transaction
	// principals remembers the last caller converted, which for gatehouse run is every caller.
	principals principalCache
	warnings   []Problem
}

// New compiles b and prepares its decision query. A bundle that does not compile is refused with a
// *CompileError listing every problem, located by the module's path inside the bundle (use Located
// with a file mapping to show the files a person edits). New does no I/O: b was read by the caller.
func New(ctx context.Context, b *bundle.Bundle, opts Options) (*Decider, error) {
	if opts.Query == "" {
		opts.Query = DefaultQuery
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	switch opts.Evaluator {
	case "":
		opts.Evaluator = EvaluatorAuto
	case EvaluatorAuto, EvaluatorTopdown:
	default:
		return nil, fmt.Errorf("evaluator %q is not one of %s, %s", opts.Evaluator, EvaluatorAuto, EvaluatorTopdown)
	}
	ref, err := ParseQuery(opts.Query)
	if err != nil {
		return nil, err
	}
	if b.Type() == bundle.DeltaBundleType {
		return nil, errors.New("delta bundles are not supported: build a snapshot bundle")
	}
	if len(b.Modules) == 0 {
		if len(b.WasmModules) > 0 || len(b.PlanModules) > 0 {
			return nil, errors.New("the bundle holds only compiled (wasm or plan) policy: gatehouse evaluates Rego, so build it without -t wasm/-t plan")
		}
		return nil, errors.New("the bundle holds no Rego modules")
	}
	modules := make(map[string]*ast.Module, len(b.Modules))
	for _, m := range b.Modules {
		modules[m.Path] = m.Parsed
	}
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	compiler, err := compileModules(ctx, store, modules)
	if err != nil {
		return nil, err
	}
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	d := &Decider{
		txn:      txn,
		query:    opts.Query,
		ref:      ref,
		timeout:  opts.Timeout,
		revision: revisionOf(b),
		members:  readMembers(compiler.Modules),
	}
	base := []func(*opa.Rego){
		opa.Compiler(compiler),
		opa.Store(store),
		opa.UnsafeBuiltins(refused),
		// The decision term itself, not a JSON conversion of it: the output is read straight from
		// the AST and numbers in a patch keep their exact text.
		opa.GenerateJSON(func(t *ast.Term, _ *opa.EvalContext) (any, error) { return t, nil }),
	}
	decision := opa.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(ref))))
	if d.eval, err = opa.New(append(base, decision)...).PrepareForEval(ctx); err != nil {
		return nil, fmt.Errorf("preparing %s: %w", opts.Query, err)
	}
	if opts.Evaluator == EvaluatorAuto {
		d.prog, err = compilePlan(ctx, store, txn, append(base, decision))
		if err != nil {
			d.planNote = err.Error()
		}
	} else {
		d.planNote = "evaluator topdown is configured"
	}
	for _, q := range visibilityQueries(opts.Query) {
		pq, err := opa.New(append(base, opa.Query(q))...).PrepareForPartial(ctx)
		switch {
		case err == nil:
			d.partials = append(d.partials, pq)
		case isUndefinedRef(err):
			// The type checker proved the decision never has this member (no rule's value has an
			// allow, or an effect), so the query could never succeed: nothing to ask.
		default:
			// Partial evaluation is unavailable for this policy: Visible proves refusals by tracing
			// alone, and shows what tracing cannot prove hidden.
			d.noPartial = true
		}
	}
	if len(compiler.GetRules(ref)) == 0 && !hasData(data, ref) {
		d.warnings = append(d.warnings, Problem{Message: fmt.Sprintf(
			"no rule or data defines %s: every decision will be undefined, which denies", opts.Query)})
	}
	return d, nil
}

// compilePlan plans the decision query and compiles the plan for plan.Program against the store's
// data. An error says why decisions will be evaluated by OPA's evaluator instead.
func compilePlan(ctx context.Context, store storage.Store, txn storage.Transaction, opts []func(*opa.Rego)) (*plan.Program, error) {
	p, err := plan.Plan(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: OPA's planner: %v", plan.ErrUnsupported, err)
	}
	data, err := store.Read(ctx, txn, storage.RootPath)
	if err != nil {
		return nil, err
	}
	v, ok := data.(ast.Value)
	if !ok {
		if v, err = ast.InterfaceToValue(data); err != nil {
			return nil, err
		}
	}
	return plan.Compile(p, v)
}

// Evaluator names how decisions are evaluated ("plan" or "topdown") and, for topdown, why.
func (d *Decider) Evaluator() (name, why string) {
	if d.prog != nil {
		return "plan", ""
	}
	return EvaluatorTopdown, d.planNote
}

// ParseQuery checks that q is a reference into data, such as data.gatehouse.decision.
func ParseQuery(q string) (ast.Ref, error) {
	ref, err := ast.ParseRef(q)
	if err != nil || !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 || !ref.IsGround() {
		return nil, fmt.Errorf("query %q must be a reference into data, such as %s", q, DefaultQuery)
	}
	return ref, nil
}

// isUndefinedRef reports whether err is only the type checker's "undefined ref" for a member no value
// of the decision can have.
func isUndefinedRef(err error) bool {
	var list []error
	var regoErrs opa.Errors
	var astErrs ast.Errors
	switch {
	case errors.As(err, &regoErrs):
		list = regoErrs
	case errors.As(err, &astErrs):
		for _, e := range astErrs {
			list = append(list, e)
		}
	}
	if len(list) == 0 {
		return false
	}
	for _, e := range list {
		var ae *ast.Error
		if !errors.As(e, &ae) || ae.Code != ast.TypeErr || !strings.HasPrefix(ae.Message, "undefined ref") {
			return false
		}
	}
	return true
}

func compileModules(ctx context.Context, store storage.Store, modules map[string]*ast.Module) (*ast.Compiler, error) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer store.Abort(ctx, txn)
	c := NewCompiler().WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if c.Compile(modules); c.Failed() {
		return nil, &CompileError{Problems: fromASTErrors(c.Errors, func(p string) string { return p })}
	}
	return c, nil
}

// revisionOf is the bundle's manifest revision when it has one, otherwise a digest of its modules and
// data, so that every audit record names the exact policy that decided.
func revisionOf(b *bundle.Bundle) string {
	if b.Manifest.Revision != "" {
		return b.Manifest.Revision
	}
	h := sha256.New()
	mods := slices.Clone(b.Modules)
	slices.SortFunc(mods, func(a, b bundle.ModuleFile) int { return strings.Compare(a.Path, b.Path) })
	for _, m := range mods {
		fmt.Fprintf(h, "%s\x00%d\x00", m.Path, len(m.Raw))
		h.Write(m.Raw)
	}
	data, _ := json.Marshal(b.Data) // map keys are sorted: the encoding is canonical
	h.Write(data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

func hasData(data map[string]any, ref ast.Ref) bool {
	var node any = data
	for _, t := range ref[1:] {
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return false
		}
		if node, ok = m[string(s)]; !ok {
			return false
		}
	}
	return true
}

// Revision identifies the loaded bundle: its manifest revision, or a digest of its content.
func (d *Decider) Revision() string { return d.revision }

// Query is the decision's reference, e.g. data.gatehouse.decision.
func (d *Decider) Query() string { return d.query }

// HasResponsePhase reports whether the policy reads input.response anywhere (or reads input in a way
// that could reach it). When no engine does, the gateway returns results without decoding them.
func (d *Decider) HasResponsePhase() bool { return d.members.has(mResponse) }

// Warnings are problems that did not refuse the bundle, such as a query no rule defines.
func (d *Decider) Warnings() []Problem { return slices.Clone(d.warnings) }
