package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auth"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/pack"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/policysource"
	"github.com/gatehouse-mcp/gatehouse/policies"
)

// checkParams are the inputs of `gatehouse check`.
type checkParams struct {
	configFile string
	policies   []string
	bundles    []string
	format     string
}

// checkProblem is one problem as `check` reports it.
type checkProblem struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	RuleID   string `json:"rule_id,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Text     string `json:"text"`
}

func newCheckCommand(s streams) *cobra.Command {
	p := &checkParams{}
	cmd := &cobra.Command{
		Use:   "check [--config FILE] [--policy FILE]... [--bundle PATH]... [FILE...]",
		Short: "Validate a configuration and its policies, reporting every problem at once",
		Long: `check loads a configuration file and every policy it names (or the policy files and bundles given)
exactly as start-up does, and reports every problem it finds, each located: file:line: rule-id:
message for rules, file:line: message for Rego. Warnings (for example a rule that names an unknown
method, or a bundle that does not define the decision query) are printed but do not fail the check.

A Rego bundle (a directory or a .tar.gz) is read, verified and compiled as gatehouse run would: with
--config, the configuration's pinned SHA-256, public key and query apply. A bundle_url is not
fetched.

Exit status: 0 valid, 1 problems found, 2 bad usage.`,
		Example: `  gatehouse check --policy examples/policies/refunds.yaml
  gatehouse check --bundle policies/
  gatehouse check --config gatehouse.yaml --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p.policies = append(p.policies, args...)
			return runCheck(p, s)
		},
	}
	cmd.Flags().StringVar(&p.configFile, "config", "", "configuration file to validate (its policies are checked too)")
	cmd.Flags().StringArrayVar(&p.policies, "policy", nil, "rules policy file to validate (repeatable)")
	cmd.Flags().StringArrayVar(&p.bundles, "bundle", nil, "Rego bundle, a directory or .tar.gz, to validate (repeatable)")
	cmd.Flags().StringVar(&p.format, "format", "text", "text or json")
	return cmd
}

func runCheck(p *checkParams, s streams) error {
	if p.format != "text" && p.format != "json" {
		return fail(ExitUsage, "--format must be text or json")
	}
	if p.configFile == "" && len(p.policies) == 0 && len(p.bundles) == 0 {
		return fail(ExitUsage, "nothing to check: give --config FILE, --policy FILE or --bundle PATH")
	}
	var problems []checkProblem
	errorsFound := false
	policies := append([]string(nil), p.policies...)
	bundles := make([]bundleCheck, 0, len(p.bundles))
	for _, b := range p.bundles {
		bundles = append(bundles, bundleCheck{path: b})
	}
	if p.configFile != "" && config.IsServeFile(p.configFile) {
		cfg, src, err := config.LoadServe(p.configFile, s.env)
		if err == nil {
			// Every problem of the file at once, in line order: unknown keys and bad values
			// (Validate), files that are not there (Files), and what start-up meets reading the key
			// files and secrets auth names.
			err = joinConfigErrors(cfg.Validate(src), cfg.Files(src), authProblems(cfg.Auth, src))
		}
		if err != nil {
			errorsFound = true
			problems = append(problems, configProblems(p.configFile, err)...)
		}
		if cfg != nil {
			problems = append(problems, configWarnings(p.configFile, cfg.Warnings(src))...)
			policies, bundles = configPolicies(p.configFile, &cfg.Policy, err, policies, bundles, &problems)
		}
	} else if p.configFile != "" {
		cfg, src, err := config.Load(p.configFile, nil)
		if err == nil {
			// As in `gatehouse run --config C --policy P`, a policy given here stands in for the one
			// the configuration does not name. It is checked once, as given.
			given := *cfg
			if given.Policy.Rules == "" && len(p.policies) > 0 {
				given.Policy.Rules = p.policies[0]
			}
			if given.Policy.Bundle == "" && given.Policy.BundleURL == "" && len(p.bundles) > 0 {
				given.Policy.SetBundle(p.bundles[0])
			}
			err = joinConfigErrors(given.Validate(src), cfg.Files(src), nil)
		}
		if err != nil {
			errorsFound = true
			problems = append(problems, configProblems(p.configFile, err)...)
		}
		if cfg != nil {
			policies, bundles = configPolicies(p.configFile, &cfg.Policy, err, policies, bundles, &problems)
		}
	}
	for _, b := range bundles {
		ps := checkBundle(b)
		for _, pr := range ps {
			if pr.Severity == "error" {
				errorsFound = true
			}
		}
		problems = append(problems, ps...)
	}
	for _, path := range policies {
		data, err := os.ReadFile(path)
		if err != nil {
			errorsFound = true
			problems = append(problems, checkProblem{File: path, Severity: "error", Message: err.Error(), Text: err.Error()})
			continue
		}
		pol, err := rules.Load(path, data)
		var le *rules.LoadError
		switch {
		case errors.As(err, &le):
			for _, pr := range le.Problems {
				if pr.Severity == rules.SeverityError {
					errorsFound = true
				}
				problems = append(problems, fromRulesProblem(pr))
			}
		case err != nil:
			errorsFound = true
			problems = append(problems, checkProblem{File: path, Severity: "error", Message: err.Error(), Text: err.Error()})
		default:
			for _, pr := range pol.Warnings() {
				problems = append(problems, fromRulesProblem(pr))
			}
		}
	}
	printProblems(s.out, p.format, problems, len(policies), len(bundles))
	if errorsFound || slices.ContainsFunc(problems, func(pr checkProblem) bool { return pr.Severity == "error" }) {
		return fail(ExitProblem, "")
	}
	return nil
}

func fromRulesProblem(pr rules.Problem) checkProblem {
	return checkProblem{File: pr.File, Line: pr.Line, RuleID: pr.RuleID, Severity: string(pr.Severity), Message: pr.Message, Text: pr.String()}
}

func configProblems(file string, err error) []checkProblem {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return []checkProblem{{File: file, Severity: "error", Message: err.Error(), Text: err.Error()}}
	}
	out := make([]checkProblem, 0, len(ce.Problems))
	for _, pr := range ce.Problems {
		f := pr.File
		if f == "" {
			f = file
		}
		out = append(out, checkProblem{File: f, Line: pr.Line, Severity: "error", Message: pr.Message, Text: pr.String()})
	}
	return out
}

// joinConfigErrors merges Validate's error with the problems of missing files and of auth into one
// *config.Error, in line order (problems from no line last); nil when there are none.
// startupFiles are the missing-file problems that stop start-up, each at its key's line: all but a
// missing Rego bundle, with which gatehouse starts and the Rego engine fails open or closed as
// configured (SPEC §5.7); check still reports it.
func startupFiles(ps []config.Problem) []config.Problem {
	return slices.DeleteFunc(ps, func(p config.Problem) bool { return p.Key == "policy.bundle" })
}

func joinConfigErrors(err error, more ...[]config.Problem) error {
	var ps []config.Problem
	var ce *config.Error
	if errors.As(err, &ce) {
		ps = append(ps, ce.Problems...)
	} else if err != nil {
		ps = append(ps, config.Problem{Message: err.Error()})
	}
	for _, m := range more {
		ps = append(ps, m...)
	}
	if ps == nil {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b config.Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line - a.Line
		}
		return a.Line - b.Line
	})
	return &config.Error{Problems: ps}
}

// authProblems builds the authenticator as start-up does, reading the key files and secrets the
// section names, and locates what fails at its key. A section that does not validate is left to
// Validate, which reports the same problems.
func authProblems(a *auth.Config, src *config.Source) []config.Problem {
	if a == nil || len(a.Validate()) > 0 {
		return nil
	}
	_, err := auth.New(*a, auth.Options{})
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var ps []config.Problem
	for _, e := range errs {
		var fe *auth.FieldError
		if errors.As(e, &fe) {
			ps = append(ps, src.Locate("auth."+fe.Key, fe.Message))
		} else {
			ps = append(ps, src.Locate("auth", e.Error()))
		}
	}
	return ps
}

// configPolicies adds the rules file and the bundle a configuration names to those to check,
// unless its error already says they are missing: a missing file is reported once, at its key.
func configPolicies(file string, pc *config.PolicyConfig, err error, policies []string, bundles []bundleCheck, problems *[]checkProblem) ([]string, []bundleCheck) {
	missing := map[string]bool{}
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, pr := range ce.Problems {
			missing[pr.Key] = true
		}
	}
	if pc.Rules != "" && !missing["policy.rules"] {
		policies = append(policies, pc.Rules)
	}
	if !missing["policy.bundle"] && !missing["policy.bundle_public_key"] {
		bundles = append(bundles, configBundles(file, pc, problems)...)
	}
	if pc.Pack != "" && !missing["policy.pack"] {
		if _, err := loadPackDecider(pc, pack.AgentTools{}, slog.New(slog.DiscardHandler)); err != nil {
			*problems = append(*problems, checkProblem{File: pc.Pack, Severity: "error", Message: err.Error(), Text: err.Error()})
		}
	}
	return policies, bundles
}

// configWarnings are a configuration's warnings as check reports them: printed, not failing.
func configWarnings(file string, ws []config.Problem) []checkProblem {
	out := make([]checkProblem, 0, len(ws))
	for _, pr := range ws {
		if pr.File == "" {
			pr.File = file
		}
		out = append(out, checkProblem{File: pr.File, Line: pr.Line, Severity: "warning", Message: pr.Message, Text: pr.String()})
	}
	return out
}

func printProblems(w io.Writer, format string, problems []checkProblem, policies, bundles int) {
	if format == "json" {
		if problems == nil {
			problems = []checkProblem{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"problems": problems})
		return
	}
	nerr := 0
	for _, pr := range problems {
		prefix := ""
		if pr.Severity == "warning" {
			prefix = "warning: "
		} else {
			nerr++
		}
		fmt.Fprintln(w, prefix+pr.Text)
	}
	if nerr == 0 {
		what := fmt.Sprintf("%d policy file(s)", policies)
		if bundles > 0 {
			what += fmt.Sprintf(" and %d bundle(s)", bundles)
		}
		fmt.Fprintf(w, "ok: %s valid, %d warning(s)\n", what, len(problems))
	} else {
		fmt.Fprintf(w, "%d error(s), %d warning(s)\n", nerr, len(problems)-nerr)
	}
}

// configBundles is the bundle a configuration names, with its integrity settings. A bundle_url is not
// fetched: check works offline, and says so.
func configBundles(file string, pc *config.PolicyConfig, problems *[]checkProblem) []bundleCheck {
	if pc.BundleURL != "" {
		msg := "policy.bundle_url is not fetched by check"
		*problems = append(*problems, checkProblem{File: file, Severity: "warning", Message: msg, Text: file + ": " + msg})
	}
	if pc.Bundle == "" {
		return nil
	}
	return []bundleCheck{{path: pc.Bundle, sha256: pc.BundleSHA256, publicKey: pc.BundlePublicKey, query: pc.Query}}
}

// bundleCheck is one Rego bundle to check, with the configuration's integrity settings.
type bundleCheck struct {
	path, sha256, publicKey, query string
}

// checkBundle reads, verifies and compiles a bundle as gatehouse run does, and returns its problems
// located in the files a person edits.
func checkBundle(b bundleCheck) []checkProblem {
	located := func(err error, severity string) []checkProblem {
		var out []checkProblem
		for _, pr := range rego.Located(err, policysource.FileNames(b.path)) {
			if pr.File == "" {
				pr.File = b.path
			}
			out = append(out, checkProblem{File: pr.File, Line: pr.Line, Severity: severity, Message: pr.Message, Text: pr.String()})
		}
		return out
	}
	o := policysource.ReadOptions{SHA256: b.sha256}
	if b.publicKey != "" {
		v, err := policysource.Verification(b.publicKey)
		if err != nil {
			return located(err, "error")
		}
		o.Verification = v
	}
	var bun *bundle.Bundle
	var err error
	if config.IsBuiltinBundle(b.path) {
		bun, err = policysource.ReadFS(policies.Starter(), o)
	} else {
		bun, err = policysource.ReadPath(b.path, o)
	}
	if err != nil {
		return located(err, "error")
	}
	d, err := rego.New(context.Background(), bun, rego.Options{Query: b.query})
	if err != nil {
		return located(err, "error")
	}
	var out []checkProblem
	for _, w := range d.Warnings() {
		out = append(out, located(errors.New(w.Message), "warning")...)
	}
	return out
}
