package cli

import (
	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/report"
)

// controlsParams are the inputs of `gatehouse controls`.
type controlsParams struct {
	format string
}

func newControlsCommand(s streams) *cobra.Command {
	p := &controlsParams{}
	cmd := &cobra.Command{
		Use:   "controls [--format text|json|md]",
		Short: "Print which gatehouse control addresses which framework item",
		Long: `controls prints gatehouse's control mapping: each control (signed agent identity, per-call policy,
budgets, approvals, kill switch, threat scanner, redaction, strict input, fail-closed postures, the
tamper-evident audit log, compliance evidence) with what it does, which audit records show it at
work, and the items it addresses in the NIST AI RMF 1.0, the OWASP Top 10 for Agentic Applications
2026 (ASI01-ASI10) and the NCCoE agent identity and authorization concerns; then every item of each
framework with the controls that address it. 'gatehouse report' embeds the same mapping with the
evidence a log holds. docs/compliance.md explains the reasoning and the sources.

Exit status: 0 printed, 2 bad usage, 3 the output could not be written.`,
		Example: `  gatehouse controls
  gatehouse controls --format json | jq '.frameworks[0].items[] | {id, controls}'
  gatehouse controls --format md > controls.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runControls(p, s)
		},
	}
	cmd.Flags().StringVar(&p.format, "format", "text", "text, json or md")
	return cmd
}

func runControls(p *controlsParams, s streams) error {
	var err error
	switch p.format {
	case "text":
		err = report.WriteControlsText(s.out)
	case "json":
		err = report.WriteControlsJSON(s.out)
	case "md":
		err = report.WriteControlsMarkdown(s.out)
	default:
		return fail(ExitUsage, "--format must be text, json or md")
	}
	if err != nil {
		return fail(ExitRuntime, "%v", err)
	}
	return nil
}
