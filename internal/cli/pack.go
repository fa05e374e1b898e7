package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/policy/pack"
)

func newPackCommand(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pack",
		Short: "Generate and evaluate workflow policy packs",
		Long: `pack works with workflow policy packs (SPEC §6, docs/policy-pack.md): the SecurityRecipes MCP
gateway policy pack format, which says per workflow which agents may use which MCP scopes, on
which branch and paths, and when a human must approve.

Exit status: 0 done, 1 the pack or manifest is refused, drifted, or decided otherwise than expected,
2 bad usage or an I/O error.`,
		Example: `  gatehouse pack generate --manifest workflow-manifests.json --out mcp-gateway-policy.json
  gatehouse pack generate --manifest workflow-manifests.json --out mcp-gateway-policy.json --check
  gatehouse pack eval --pack mcp-gateway-policy.json --request request.json --expect-decision allow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPackGenerateCommand(s), newPackEvalCommand(s))
	return cmd
}

type packGenerateParams struct {
	manifest, out, manifestPath, generatedAt string
	check                                    bool
}

func newPackGenerateCommand(s streams) *cobra.Command {
	p := &packGenerateParams{}
	cmd := &cobra.Command{
		Use:   "generate --manifest M --out P",
		Short: "Generate a policy pack from a workflow manifest, or check that one has not drifted",
		Long: `generate compiles a workflow manifest into a policy pack, byte for byte as the published
SecurityRecipes generator does: deterministic (names sorted, two-space indentation), with the
manifest's SHA-256 pinned in source_manifest.sha256. The pack is checked as gatehouse would load it
before it is written.

The pack records the manifest's path as given to --manifest (with forward slashes), or as
--manifest-path, and generated_at as the manifest's last_reviewed, or --generated-at.

With --check nothing is written: the exit status is 1 when the pack at --out is missing or differs
from what the manifest generates, so that CI catches a manifest changed without its pack.`,
		Example: `  gatehouse pack generate --manifest data/control-plane/workflow-manifests.json --out data/policy/mcp-gateway-policy.json
  gatehouse pack generate --manifest data/control-plane/workflow-manifests.json --out data/policy/mcp-gateway-policy.json --check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runPackGenerate(p, s) },
	}
	f := cmd.Flags()
	f.StringVar(&p.manifest, "manifest", "", "workflow manifest (JSON) to read (required)")
	f.StringVar(&p.out, "out", "", "policy pack to write, or to check with --check (required)")
	f.BoolVar(&p.check, "check", false, "write nothing; exit 1 when --out differs from what the manifest generates")
	f.StringVar(&p.manifestPath, "manifest-path", "", "the manifest path the pack records (default: --manifest as given)")
	f.StringVar(&p.generatedAt, "generated-at", "", "the pack's generated_at (default: the manifest's last_reviewed)")
	return cmd
}

func runPackGenerate(p *packGenerateParams, s streams) error {
	if p.manifest == "" || p.out == "" {
		return fail(ExitUsage, "pack generate needs --manifest M and --out P")
	}
	manifest, err := os.ReadFile(p.manifest)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	ref := p.manifestPath
	if ref == "" {
		ref = posixPath(p.manifest)
	}
	data, err := pack.Generate(manifest, pack.GenerateOptions{ManifestPath: ref, GeneratedAt: p.generatedAt})
	if err != nil {
		return fail(ExitProblem, "%s: %v", p.manifest, err)
	}
	loaded, err := pack.Load(data)
	if err != nil {
		return fail(ExitProblem, "%s generates a pack gatehouse would refuse: %v", p.manifest, err)
	}
	if p.check {
		current, err := os.ReadFile(p.out)
		switch {
		case os.IsNotExist(err):
			return fail(ExitProblem, "%s is missing; run gatehouse pack generate without --check", p.out)
		case err != nil:
			return fail(ExitUsage, "%v", err)
		// Read as Python reads text: CRLF line endings (a Windows checkout) are not a drift.
		case !bytes.Equal(bytes.ReplaceAll(current, []byte("\r\n"), []byte("\n")), data):
			return fail(ExitProblem, "%s has drifted from %s (%s); run gatehouse pack generate without --check", p.out, p.manifest, firstLineDiff(current, data))
		}
		fmt.Fprintf(s.out, "%s is current: generated from %s (sha256 %s)\n", p.out, p.manifest, loaded.SHA256())
		return nil
	}
	if err := writeAtomic(p.out, data); err != nil {
		return fail(ExitUsage, "%v", err)
	}
	fmt.Fprintf(s.out, "wrote %s: %d workflow(s), sha256 %s\n", p.out, len(loaded.Workflows()), loaded.SHA256())
	return nil
}

// posixPath is a path as Python's pathlib writes it (PurePosixPath(p).as_posix()), which is how the
// published generator records the manifest: empty and "." segments dropped, a leading "//" kept.
func posixPath(p string) string {
	root := ""
	switch {
	case strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "///"):
		root = "//"
	case strings.HasPrefix(p, "/"):
		root = "/"
	}
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			segs = append(segs, s)
		}
	}
	if out := root + strings.Join(segs, "/"); out != "" {
		return out
	}
	return "."
}

// firstLineDiff names the first line where have differs from want.
func firstLineDiff(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(h), len(w)) {
		if h[i] != w[i] {
			return fmt.Sprintf("first difference at line %d", i+1)
		}
	}
	return fmt.Sprintf("%d lines, expected %d", len(h), len(w))
}

type packEvalParams struct{ pack, request, expect string }

func newPackEvalCommand(s streams) *cobra.Command {
	p := &packEvalParams{}
	cmd := &cobra.Command{
		Use:   "eval --pack P --request R.json",
		Short: "Decide one runtime request with a policy pack and print the evaluator's answer",
		Long: `eval decides one runtime request (a JSON object of the attributes of SPEC §6.3: workflow_id,
agent_id, run_id, tool_namespace, tool_access_mode, branch_name, changed_paths, diff_line_count,
gate_phase, human_approval_record, and optionally agent_class, change_class, runtime_kill_signal)
and prints the answer exactly as the published SecurityRecipes evaluator prints it: the decision,
the reason, the violations, the matched workflow and scope, and the evidence.

With --expect-decision D the exit status is 1 when the decision differs: a pack test in CI.`,
		Example: `  cat > request.json <<'JSON'
  {"workflow_id": "vulnerable-dependency-remediation",
   "agent_id": "sr-agent::vulnerable-dependency-remediation::codex", "run_id": "run-123",
   "tool_namespace": "repo.contents", "tool_access_mode": "write_branch",
   "branch_name": "sec-auto-remediation/fix-cve", "changed_paths": ["package.json"],
   "diff_line_count": 120, "gate_phase": "tool_call"}
  JSON
  gatehouse pack eval --pack mcp-gateway-policy.json --request request.json --expect-decision allow_scoped_branch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runPackEval(p, s) },
	}
	f := cmd.Flags()
	f.StringVar(&p.pack, "pack", "", "policy pack (required)")
	f.StringVar(&p.request, "request", "", "runtime request file, or - for stdin (required)")
	f.StringVar(&p.expect, "expect-decision", "", "exit 1 unless the decision is this one")
	return cmd
}

func runPackEval(p *packEvalParams, s streams) error {
	if p.pack == "" || p.request == "" {
		return fail(ExitUsage, "pack eval needs --pack P and --request R.json")
	}
	if p.expect != "" && !slices.Contains(pack.Decisions(), p.expect) {
		return fail(ExitUsage, "--expect-decision %q is not one of %s", p.expect, strings.Join(pack.Decisions(), ", "))
	}
	pk, err := loadPack(p.pack, "")
	if err != nil {
		return fail(ExitProblem, "%v", err)
	}
	var raw []byte
	if p.request == "-" {
		raw, err = io.ReadAll(io.LimitReader(s.in, 16<<20))
	} else {
		raw, err = os.ReadFile(p.request)
	}
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	v, err := pack.Decode(raw)
	if err != nil {
		return fail(ExitUsage, "%s is not valid JSON: %v", p.request, err)
	}
	req, ok := v.(*pack.Object)
	if !ok {
		return fail(ExitUsage, "%s must hold a JSON object", p.request)
	}
	r, err := pk.Evaluate(req)
	if err != nil {
		return fail(ExitProblem, "%s cannot be decided (the published evaluator raises here too): %v", p.request, err)
	}
	s.out.Write(append(pack.Dump(r.Doc), '\n'))
	if p.expect != "" && r.Decision != p.expect {
		return fail(ExitProblem, "expected decision %q, got %q", p.expect, r.Decision)
	}
	return nil
}

// loadPack reads and loads a policy pack, refusing it when sha256 (hex) is set and does not match.
func loadPack(path, sha256 string) (*pack.Pack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy pack: %w", err)
	}
	pk, err := pack.Load(data)
	if err != nil {
		return nil, fmt.Errorf("policy pack %s does not load: %w", path, err)
	}
	if sha256 != "" && !strings.EqualFold(sha256, pk.SHA256()) {
		return nil, fmt.Errorf("policy pack %s has sha256 %s, not the pinned %s", path, pk.SHA256(), sha256)
	}
	return pk, nil
}
