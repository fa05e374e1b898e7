package plan

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/test/cases"
	"github.com/open-policy-agent/opa/v1/test/cases/testdata"
	"go.yaml.in/yaml/v3"
)

// evalTarget runs a Program behind OPA's rego package, so that the same query, modules, data and
// input can be evaluated by OPA's evaluator and by a Program and their result sets compared.
const evalTarget = "gatehouse-plan-test"

type programTarget struct{}

var (
	registerTarget sync.Once
	targetData     ast.Value // the data of the case being prepared (tests run one case at a time)
)

func (programTarget) IsTarget(t string) bool { return t == evalTarget }

func (programTarget) PrepareForEval(_ context.Context, p *ir.Policy, _ ...opa.PrepareOption) (opa.TargetPluginEval, error) {
	prog, err := Compile(p, targetData)
	if err != nil {
		return nil, err
	}
	return programEval{prog}, nil
}

type programEval struct{ prog *Program }

func (e programEval) Eval(ctx context.Context, ectx *opa.EvalContext, _ ast.Value) (ast.Value, error) {
	input := ectx.ParsedInput()
	if input == nil && ectx.RawInput() != nil {
		var err error
		if input, err = ast.InterfaceToValue(*ectx.RawInput()); err != nil {
			return nil, err
		}
	}
	// The clock and randomness as OPA's evaluator has them: read once per query, crypto/rand.
	seed := ectx.Seed()
	if seed == nil {
		seed = rand.Reader
	}
	res, err := e.prog.Eval(ctx, input, EvalOptions{Time: ast.UIntNumberTerm(uint64(time.Now().UnixNano())), Seed: seed})
	if err != nil {
		return nil, err
	}
	return ast.NewSet(res...), nil
}

// loadCases reads OPA's own evaluation test suite (the cases its evaluator and its Wasm target are
// both held to), as shipped in OPA's module.
func loadCases(t *testing.T) []cases.TestCase {
	t.Helper()
	var out []cases.TestCase
	err := fs.WalkDir(testdata.V1, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		raw, err := fs.ReadFile(testdata.V1, path)
		if err != nil {
			return err
		}
		var set cases.Set
		if err := yaml.Unmarshal(raw, &set); err != nil {
			return err
		}
		for _, c := range set.Cases {
			c.Filename = path
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type outcome struct {
	results []string
	err     error
}

func evalCase(ctx context.Context, c cases.TestCase, target string) (outcome, error) {
	opts := []func(*opa.Rego){opa.Query(c.Query), opa.Target(target)}
	for i, m := range c.Modules {
		opts = append(opts, opa.Module(c.Filename+"/"+string(rune('a'+i))+".rego", m))
	}
	data := map[string]any{}
	if c.Data != nil {
		data = *c.Data
	}
	opts = append(opts, opa.Store(inmem.NewFromObject(data)))
	switch {
	case c.InputTerm != nil:
		term, err := ast.ParseTerm(*c.InputTerm)
		if err != nil {
			return outcome{}, err
		}
		opts = append(opts, opa.ParsedInput(term.Value))
	case c.Input != nil:
		opts = append(opts, opa.Input(*c.Input))
	}
	if target == evalTarget {
		v, err := ast.InterfaceToValue(data)
		if err != nil {
			return outcome{}, err
		}
		targetData = v
	}
	pq, err := opa.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return outcome{}, err
	}
	rs, err := pq.Eval(ctx)
	if err != nil {
		return outcome{err: err}, nil
	}
	var out []string
	for _, r := range rs {
		b, err := json.Marshal(map[string]any{"bindings": r.Bindings, "expressions": r.Expressions})
		if err != nil {
			return outcome{}, err
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return outcome{results: slices.Compact(out)}, nil
}

// TestConformanceWithOPA runs every case of OPA's evaluation suite through OPA's evaluator and
// through a Program, and requires the same results, or an error from both. Cases whose plan a
// Program refuses (ErrUnsupported) are counted, not compared: in the gateway such a policy is
// evaluated by OPA's evaluator.
func TestConformanceWithOPA(t *testing.T) {
	registerTarget.Do(func() { opa.RegisterPlugin(evalTarget, programTarget{}) })
	ctx := context.Background()
	var compared, unsupported, unplanned, skipped int
	for _, c := range loadCases(t) {
		if c.StrictError || len(c.Env) > 0 {
			skipped++ // strict built-in errors and environment variables: gatehouse uses neither
			continue
		}
		want, err := evalCase(ctx, c, "rego")
		if err != nil {
			skipped++ // does not prepare under OPA's evaluator either: a compile-error case
			continue
		}
		got, err := evalCase(ctx, c, evalTarget)
		switch {
		case errors.Is(err, ErrUnsupported):
			unsupported++
			continue
		case err != nil:
			unplanned++ // OPA's planner cannot plan it
			continue
		}
		compared++
		if (want.err == nil) != (got.err == nil) {
			t.Errorf("%s: %s: OPA's error %v, the program's %v", c.Filename, c.Note, want.err, got.err)
			continue
		}
		if !slices.Equal(want.results, got.results) {
			t.Errorf("%s: %s:\nOPA:     %v\nprogram: %v", c.Filename, c.Note, want.results, got.results)
		}
	}
	t.Logf("compared %d cases; %d refused as unsupported, %d not planned by OPA, %d skipped", compared, unsupported, unplanned, skipped)
	if compared < 1000 {
		t.Errorf("only %d cases compared: the suite did not load as expected", compared)
	}
}
