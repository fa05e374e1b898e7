package cli

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
	"github.com/gatehouse-mcp/gatehouse/internal/policysource"
)

// testParams are the inputs of `gatehouse test`.
type testParams struct {
	paths   []string
	verbose bool
	run     string
	timeout time.Duration
}

func newTestCommand(s streams) *cobra.Command {
	p := &testParams{}
	cmd := &cobra.Command{
		Use:   "test [flags] DIR...",
		Short: "Run the Rego unit tests of a policy bundle, like opa test",
		Long: `test loads each DIR (a bundle directory, or a bundle file .tar.gz) exactly as gatehouse run loads a
bundle, and runs every Rego test in it in-process: every rule named test_* must be true. Output is
opa test's: a line per failing test (per test with -v), the failures explained, and a summary.

Tests are compiled with the same restrictions as a running bundle: a policy that calls http.send,
time.now_ns or another built-in that does I/O or reads the clock fails here, as it would fail to load.
print() output is shown for failing tests (and with -v for all).

Exit status: 0 every test passed, 1 a test failed, 2 the bundle could not be loaded or compiled (or
bad usage).`,
		Example: `  # The starter policies
  gatehouse test policies/

  # One package's tests, verbosely
  gatehouse test -v --run 'roles' policies/

  # A built bundle
  gatehouse test bundle.tar.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.paths = args
			return runTest(cmd.Context(), p, s)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&p.verbose, "verbose", "v", false, "print every test, with print() output and the trace of failures")
	f.StringVar(&p.run, "run", "", "run only tests whose name (package.rule) matches this regular expression")
	f.DurationVar(&p.timeout, "timeout", 5*time.Second, "longest one test may run")
	return cmd
}

func runTest(ctx context.Context, p *testParams, s streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	modules, data, err := loadForTest(p.paths)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false))
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer store.Abort(ctx, txn)
	compiler := rego.NewCompiler().WithEnablePrintStatements(true).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	runner := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		EnableTracing(p.verbose).
		SetTimeout(p.timeout).
		SetParallel(1). // results in file order, the same on every run
		Filter(p.run)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		problems := rego.Located(err, nil)
		for _, pr := range problems {
			fmt.Fprintln(s.err, pr.String())
		}
		return fail(ExitUsage, "%d error(s) loading the tests", len(problems))
	}
	failed, ran := false, 0
	results := make(chan *tester.Result)
	go func() {
		defer close(results)
		for r := range ch {
			ran++
			if !r.Pass() && !r.Skip {
				failed = true
			}
			if r.Error != nil {
				failed = true
			}
			results <- r
		}
	}()
	if err := (tester.PrettyReporter{Output: s.out, Verbose: p.verbose, FailureLine: true}).Report(results); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if ran == 0 {
		fmt.Fprintln(s.out, "no tests found")
		return fail(ExitProblem, "")
	}
	if failed {
		return fail(ExitProblem, "")
	}
	return nil
}

// loadForTest reads each path as a bundle and merges their modules and data.
func loadForTest(paths []string) (map[string]*ast.Module, map[string]any, error) {
	var bundles []*bundle.Bundle
	names := map[string]string{} // module path → file a person edits
	for _, path := range paths {
		b, err := policysource.ReadPath(path, policysource.ReadOptions{})
		if err != nil {
			return nil, nil, locatedError(path, err)
		}
		for _, m := range b.Modules {
			names[m.Path] = policysource.FileNames(path)(m.Path)
		}
		bundles = append(bundles, b)
	}
	merged := bundles[0]
	if len(bundles) > 1 {
		var err error
		if merged, err = bundle.Merge(bundles); err != nil {
			return nil, nil, err
		}
	}
	modules := make(map[string]*ast.Module, len(merged.Modules))
	for _, m := range merged.Modules {
		name := names[m.Path]
		if name == "" {
			name = m.Path
		}
		// Parsed again under the name of the file a person edits, so that results and failures are
		// located there (policies/gatehouse/roles_test.rego:12), as opa test locates them.
		mod, err := ast.ParseModuleWithOpts(name, string(m.Raw), ast.ParserOptions{RegoVersion: m.Parsed.RegoVersion()})
		if err != nil {
			return nil, nil, locatedError(name, err)
		}
		modules[name] = mod
	}
	data := map[string]any{}
	maps.Copy(data, merged.Data)
	return modules, data, nil
}

// locatedError formats a bundle's read error with every problem located in the files a person edits.
func locatedError(source string, err error) error {
	problems := rego.Located(err, policysource.FileNames(source))
	msg := ""
	for i, pr := range problems {
		if i > 0 {
			msg += "\n"
		}
		if pr.File == "" {
			pr.File = source
		}
		msg += pr.String()
	}
	return fmt.Errorf("%s", msg)
}
