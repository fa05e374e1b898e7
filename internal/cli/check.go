package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auth"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
)

// checkParams are the inputs of `gatehouse check`.
type checkParams struct {
	configFile string
	policies   []string
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
		Use:   "check [--config FILE] [--policy FILE]... [FILE...]",
		Short: "Validate a configuration and its policies, reporting every problem at once",
		Long: `check loads a configuration file and every policy it names (or the policy files given) exactly as
start-up does, and reports every problem it finds, each located as file:line: rule-id: message.
Warnings (for example a rule that names an unknown method) are printed but do not fail the check.

Exit status: 0 valid, 1 problems found, 2 bad usage.`,
		Example: `  gatehouse check --policy examples/policies/refunds.yaml
  gatehouse check --config gatehouse.yaml --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p.policies = append(p.policies, args...)
			return runCheck(p, s)
		},
	}
	cmd.Flags().StringVar(&p.configFile, "config", "", "configuration file to validate (its policies are checked too)")
	cmd.Flags().StringArrayVar(&p.policies, "policy", nil, "rules policy file to validate (repeatable)")
	cmd.Flags().StringVar(&p.format, "format", "text", "text or json")
	return cmd
}

func runCheck(p *checkParams, s streams) error {
	if p.format != "text" && p.format != "json" {
		return fail(ExitUsage, "--format must be text or json")
	}
	if p.configFile == "" && len(p.policies) == 0 {
		return fail(ExitUsage, "nothing to check: give --config FILE or --policy FILE")
	}
	var problems []checkProblem
	errorsFound := false
	policies := append([]string(nil), p.policies...)
	if p.configFile != "" && config.IsServeFile(p.configFile) {
		cfg, src, err := config.LoadServe(p.configFile, s.env)
		if err == nil {
			err = cfg.Validate(src)
		}
		if err == nil && cfg.Auth != nil {
			// Start-up reads key files and secrets from the environment: check does too.
			_, err = auth.New(*cfg.Auth, auth.Options{})
		}
		if err != nil {
			errorsFound = true
			problems = append(problems, configProblems(p.configFile, err)...)
		}
		if cfg != nil && cfg.Policy.Rules != "" {
			policies = append(policies, cfg.Policy.Rules)
		}
	} else if p.configFile != "" {
		cfg, src, err := config.Load(p.configFile, nil)
		if err == nil {
			err = cfg.Validate(src)
		}
		if err != nil {
			errorsFound = true
			problems = append(problems, configProblems(p.configFile, err)...)
		}
		if cfg != nil && cfg.Policy.Rules != "" {
			policies = append(policies, cfg.Policy.Rules)
		}
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
	printProblems(s.out, p.format, problems, len(policies))
	if errorsFound {
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

func printProblems(w io.Writer, format string, problems []checkProblem, policies int) {
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
		fmt.Fprintf(w, "ok: %d policy file(s) valid, %d warning(s)\n", policies, len(problems))
	} else {
		fmt.Fprintf(w, "%d error(s), %d warning(s)\n", nerr, len(problems)-nerr)
	}
}
