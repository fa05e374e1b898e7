package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/report"
)

// reportParams are the inputs of `gatehouse report`.
type reportParams struct {
	files         []string
	out           string
	format        string
	pubkey        string
	allowUnsealed bool
}

func newReportCommand(s streams) *cobra.Command {
	p := &reportParams{}
	cmd := &cobra.Command{
		Use:   "report --audit FILE... [--out report.md] [--format md|html] [--pubkey KEY]",
		Short: "Turn audit logs into a compliance evidence report",
		Long: `report verifies one or more audit files exactly as 'gatehouse verify' does and writes a compliance
evidence report: the integrity attestation (records, sequence range, last hash, checkpoints and
their signatures, warnings), activity per agent and per tenant, decisions by effect, engine, rule,
method, tool and outcome, refusals by reason code, the threat rollup, approvals, and the mapping of
gatehouse's controls to the NIST AI RMF, the OWASP Top 10 for Agentic Applications 2026 and the
NCCoE agent identity and authorization concerns, with the evidence this log holds for each.

The report is Markdown (CommonMark with GFM tables) or one self-contained HTML5 file. The format
follows --format, or else the extension of --out (.html or .htm for HTML). Without --out, or with
--out -, the report goes to stdout. It is deterministic: the same files give the same bytes.

When the chain is not intact the report is still written, says so at the top, and the exit status
is 1: the statistics of an altered log are not evidence.

Exit status: 0 report written from an intact log, 1 report written but the log is NOT INTACT,
2 bad usage, an unreadable file or key, or the report could not be written.`,
		Example: `  gatehouse report --audit gatehouse-audit.jsonl --out report.md
  gatehouse report --audit gatehouse-audit-*.jsonl --audit gatehouse-audit.jsonl --pubkey audit.pub --out report.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p.files = append(p.files, args...)
			return runReport(p, s)
		},
	}
	cmd.Flags().StringArrayVar(&p.files, "audit", nil, "audit file (repeatable; rotated files in any order)")
	cmd.Flags().StringVar(&p.out, "out", "-", "file to write the report to; - is stdout")
	cmd.Flags().StringVar(&p.format, "format", "", "md or html (default: from the --out extension, else md)")
	cmd.Flags().StringVar(&p.pubkey, "pubkey", "", "Ed25519 public key that must have signed every checkpoint")
	cmd.Flags().BoolVar(&p.allowUnsealed, "allow-unsealed", false, "accept a log that does not end with a closing checkpoint")
	return cmd
}

func runReport(p *reportParams, s streams) error {
	if len(p.files) == 0 {
		return fail(ExitUsage, "give the audit file(s) to report on with --audit FILE")
	}
	format := p.format
	if format == "" {
		format = "md"
		if ext := strings.ToLower(filepath.Ext(p.out)); ext == ".html" || ext == ".htm" {
			format = "html"
		}
	}
	if format != "md" && format != "html" {
		return fail(ExitUsage, "--format must be md or html")
	}
	opts := report.Options{Files: p.files, AllowUnsealed: p.allowUnsealed}
	if p.pubkey != "" {
		pub, err := auditlog.ReadPublicKeyFile(p.pubkey)
		if err != nil {
			return fail(ExitUsage, "public key: %v", err)
		}
		opts.PublicKey = pub
	}
	r, err := report.Build(opts)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	var buf bytes.Buffer
	if format == "html" {
		err = r.HTML(&buf)
	} else {
		err = r.Markdown(&buf)
	}
	if err != nil {
		return fail(ExitUsage, "render the report: %v", err)
	}
	if p.out == "-" {
		s.out.Write(buf.Bytes())
	} else {
		if err := writeFileAtomic(p.out, buf.Bytes()); err != nil {
			return fail(ExitUsage, "write the report: %v", err)
		}
		state := "chain intact"
		if !r.Integrity.Intact {
			state = "chain NOT INTACT"
		}
		agents := 0
		for _, a := range r.Agents {
			if a.Name != "" {
				agents++
			}
		}
		fmt.Fprintf(s.out, "wrote %s (%s): %d decision(s), %d agent(s), %s\n", p.out, format, r.Records.Decisions, agents, state)
	}
	if !r.Integrity.Intact {
		msg := "the log is not intact"
		if r.Integrity.Problem != nil {
			msg = r.Integrity.Problem.Error()
		}
		return fail(ExitProblem, "NOT INTACT: %s (the report says so at the top)", msg)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames it over path, so that a
// reader never sees half a report and a failed write leaves the old one in place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		return errors.Join(werr, os.Remove(tmp))
	}
	return nil
}
