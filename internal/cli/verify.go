package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// verifyParams are the inputs of `gatehouse verify`.
type verifyParams struct {
	files         []string
	pubkey        string
	allowUnsealed bool
	format        string
}

func newVerifyCommand(s streams) *cobra.Command {
	p := &verifyParams{}
	cmd := &cobra.Command{
		Use:   "verify --audit FILE... [--pubkey KEY]",
		Short: "Prove an audit log intact, or name the first record that is not",
		Long: `verify recomputes the SHA-256 hash chain of one or more audit files (rotated files may be given
in any order) and checks sequence numbers and links. Any edited, inserted, deleted, reordered or
truncated record fails verification, and the first bad record is named by file, line and sequence.

With --pubkey, every checkpoint must carry a valid Ed25519 signature by that key, which makes even
a rewrite of the whole chain detectable. A log must end with a closing checkpoint unless it is still
held open by a running gatehouse or --allow-unsealed is given: removing whole records from the end
is otherwise invisible to a hash chain.

Exit status: 0 intact, 1 not intact, 2 bad usage.`,
		Example: `  gatehouse verify --audit gatehouse-audit.jsonl
  gatehouse verify --audit gatehouse-audit-*.jsonl --audit gatehouse-audit.jsonl --pubkey audit.pub`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p.files = append(p.files, args...)
			return runVerify(p, s)
		},
	}
	cmd.Flags().StringArrayVar(&p.files, "audit", nil, "audit file (repeatable; rotated files in any order)")
	cmd.Flags().StringVar(&p.pubkey, "pubkey", "", "Ed25519 public key (from gatehouse keygen) that must have signed every checkpoint")
	cmd.Flags().BoolVar(&p.allowUnsealed, "allow-unsealed", false, "accept a log that does not end with a closing checkpoint")
	cmd.Flags().StringVar(&p.format, "format", "text", "text or json")
	return cmd
}

func runVerify(p *verifyParams, s streams) error {
	if len(p.files) == 0 {
		return fail(ExitUsage, "give the audit file(s) to verify with --audit FILE")
	}
	if p.format != "text" && p.format != "json" {
		return fail(ExitUsage, "--format must be text or json")
	}
	opts, err := verifyOptions(p.pubkey, p.allowUnsealed)
	if err != nil {
		return err
	}
	report, err := auditlog.Verify(p.files, opts)
	var problem *auditlog.Problem
	if err != nil && !errors.As(err, &problem) {
		return fail(ExitUsage, "%v", err)
	}
	if p.format == "json" {
		out := map[string]any{"intact": err == nil, "report": report}
		if problem != nil {
			out["problem"] = problem
		}
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		if report != nil {
			for _, w := range report.Warnings {
				fmt.Fprintln(s.out, "warning:", w)
			}
		}
		if err == nil {
			fmt.Fprintf(s.out, "intact: %d record(s) in %d file(s), seq %d..%d, %d checkpoint(s) (%d signed), last hash %s\n",
				report.Records, len(report.Files), report.FirstSeq, report.LastSeq, report.Checkpoints, report.SignedCheckpoints, report.LastHash)
		}
	}
	if err != nil {
		return fail(ExitProblem, "NOT INTACT: %v", err)
	}
	return nil
}

// verifyOptions are the options of --pubkey and --allow-unsealed, for every command that verifies a
// log before it reads it.
func verifyOptions(pubkey string, allowUnsealed bool) (auditlog.VerifyOptions, error) {
	opts := auditlog.VerifyOptions{AllowUnsealed: allowUnsealed}
	if pubkey != "" {
		pub, err := auditlog.ReadPublicKeyFile(pubkey)
		if err != nil {
			return opts, fail(ExitUsage, "public key: %v", err)
		}
		opts.PublicKey = pub
	}
	return opts, nil
}
