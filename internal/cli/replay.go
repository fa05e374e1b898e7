package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/replay"
)

// replayParams are the inputs of `gatehouse replay`.
type replayParams struct {
	files         []string
	pubkey        string
	allowUnsealed bool
	configFile    string
	policy        string
	policyBundle  string
	regoMode      string
	mode          string
	fail          string
	format        string
	all           bool
	show          int
	failOnChange  bool
	changed       func(flag string) bool
}

func newReplayCommand(s streams) *cobra.Command {
	p := &replayParams{}
	cmd := &cobra.Command{
		Use:   "replay --audit FILE... (--config FILE | --policy FILE | --policy-bundle PATH)",
		Short: "Decide recorded traffic again with other policies: which past decisions would change",
		Long: `replay verifies the audit files exactly as 'gatehouse verify' does, then decides every recorded call
again with the policies named here (a configuration, a rules file, a Rego bundle, or several, as
'gatehouse run' takes them), and lists the decisions that would change: a call allowed then and
refused now, refused then and allowed now, held for a human, or refused only in monitor mode.

Each replayed decision is changed (the effect, or the effect a monitoring engine reported, differs),
unchanged (perhaps by another rule), or uncertain: decided otherwise, but from an input the record
could not give back whole, so the difference may come from what is missing rather than from the
policies. --fail-on-change counts the changed ones; uncertain ones are listed for a person to judge.

Budgets and rule rates are counted again from zero, on the times the calls were decided.
The input of each call is rebuilt from its record, which holds less than the call did, so some
replays are inexact, with why:
  arguments_cut        the arguments were longer than the record keeps (500 characters): the call
                       is replayed without arguments
  arguments_redacted   secrets in the arguments were redacted before they were recorded
  arguments_rewritten  the policy of the time rewrote the arguments: they are replayed as forwarded
  no_workflow_attributes  a workflow pack decided, then or now, and records keep no workflow
                       attributes
  threat_score         the recorded threat score is the call's highest, its result's included
Records keep no request headers or token claims. Calls refused before the policies decide (bad
frames, authentication, tenancy, the kill switch, the threat scanner's own refusals, the gateway's
own rate limits), by tool pinning, or for an unavailable budget state are counted, not replayed.
Only the request phase is replayed: response rules are not (a record keeps the result as the old
policy returned it, cut short).

Budgets and rates start again from zero where the gateway restarted (a closing checkpoint, a
recovery record) unless state.redis is configured, as the gateway's own did. Within one run, calls
are replayed in the order they were decided (a record is written when its call ends, so the log's
order is the order calls ended); the records of a run are held in memory until it ends.

Nothing is sent to an MCP server and nothing is written (a bundle named by URL is fetched).

Exit status: 0 replayed (with --fail-on-change: and no decision changed), 1 a decision changed and
--fail-on-change was given, or the log does not verify (nothing is replayed), 2 bad usage, or a
policy or configuration that does not load.`,
		Example: `  # Would the new rules refuse anything the agents did this week?
  gatehouse replay --audit gatehouse-audit.jsonl --policy policy-v2.yaml

  # A Rego bundle, enforced, against rotated logs; every change as JSON
  gatehouse replay --audit 'audit-*.jsonl' --audit audit.jsonl --policy-bundle policies/ --rego-mode enforce --format json

  # In CI: fail when a policy change would alter a recorded decision
  gatehouse replay --audit testdata/golden-audit.jsonl --config gatehouse.yaml --fail-on-change`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p.files = append(p.files, args...)
			p.changed = cmd.Flags().Changed
			return runReplay(cmd.Context(), p, s)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&p.files, "audit", nil, "audit file (repeatable; rotated files in any order)")
	f.StringVar(&p.pubkey, "pubkey", "", "Ed25519 public key that must have signed every checkpoint")
	f.BoolVar(&p.allowUnsealed, "allow-unsealed", false, "accept a log that does not end with a closing checkpoint")
	f.StringVar(&p.configFile, "config", "", "configuration whose policies to replay with (its policy section, mode and fail)")
	f.StringVar(&p.policy, "policy", "", "native rules policy file, over the configuration's")
	f.StringVar(&p.policyBundle, "policy-bundle", "", "Rego bundle: a directory, a .tar.gz, or an http(s) URL, over the configuration's")
	f.StringVar(&p.regoMode, "rego-mode", "", "the Rego engine's mode: enforce, monitor or off (as gatehouse run)")
	f.StringVar(&p.mode, "mode", "", "enforce, monitor or off (as gatehouse run)")
	f.StringVar(&p.fail, "fail", "", "posture when a policy engine fails: closed or open (as gatehouse run)")
	f.StringVar(&p.format, "format", "text", "text or json")
	f.BoolVar(&p.all, "all", false, "list every replayed decision, not only those that change")
	f.IntVar(&p.show, "show", 50, "in text, list at most this many decisions (0: all)")
	f.BoolVar(&p.failOnChange, "fail-on-change", false, "exit 1 when any decision would change")
	return cmd
}

func runReplay(ctx context.Context, p *replayParams, s streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(p.files) == 0 {
		return fail(ExitUsage, "give the audit file(s) to replay with --audit FILE")
	}
	if p.format != "text" && p.format != "json" {
		return fail(ExitUsage, "--format must be text or json")
	}
	if p.show < 0 {
		return fail(ExitUsage, "--show must be 0 (all) or more")
	}
	opts, err := verifyOptions(p.pubkey, p.allowUnsealed)
	if err != nil {
		return err
	}
	chain, err := auditlog.Verify(p.files, opts)
	if err != nil {
		var problem *auditlog.Problem
		if errors.As(err, &problem) {
			return fail(ExitProblem, "NOT INTACT: %v\nreplay reads only a log that verifies ('gatehouse verify' says more)", err)
		}
		return fail(ExitUsage, "%v", err)
	}

	cfg, plan, err := loadReplayConfig(p, s.env)
	if err != nil {
		return err
	}
	// The engines log as they would in a gateway; what they say matters here only as the reason a
	// policy did not load, or as a policy's warnings.
	var log bytes.Buffer
	eng, err := startEngines(ctx, cfg, plan, nil, newLogger(&log, "warn", "text"))
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	if eng.rego != nil && eng.rego.revision() == "none" {
		return fail(ExitUsage, "the Rego bundle did not load, so there is nothing to replay with:\n%s", strings.TrimSpace(log.String()))
	}
	s.err.Write(log.Bytes())
	var stages []pipeline.Stage
	for _, st := range eng.stages() {
		stages = append(stages, st)
	}
	if len(stages) == 0 && cfg.Mode != string(pipeline.ModeOff) {
		return fail(ExitUsage, "give the policies to replay with: --config FILE, --policy FILE or --policy-bundle PATH (or mode off)")
	}
	var listed []*replay.Result
	rp := replay.New(replay.Options{Engines: stages, Fail: pipeline.Fail(cfg.Fail), MemoryState: cfg.State.Redis.URL == "",
		Emit: func(res *replay.Result) {
			if res.Skipped == "" && (res.Status != replay.StatusUnchanged || p.all) {
				listed = append(listed, res)
			}
		}})
	// Only what was verified is replayed: a live log may have grown since.
	errVerified := errors.New("past the verified records")
	for _, path := range chain.Files {
		err := auditlog.Records(path, func(rec *auditlog.Record) error {
			if rec.Seq > chain.LastSeq {
				return errVerified
			}
			rp.Record(ctx, rec)
			return ctx.Err()
		})
		if errors.Is(err, errVerified) {
			break
		}
		if err != nil {
			return fail(ExitUsage, "read %v", err)
		}
	}
	rp.Flush(ctx)
	sum := rp.Summary()
	against := replayedWith(eng)
	if p.format == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if listed == nil {
			listed = []*replay.Result{}
		}
		if err := enc.Encode(map[string]any{"files": chain.Files, "first_seq": chain.FirstSeq, "last_seq": chain.LastSeq,
			"policies": against, "summary": sum, "decisions": listed}); err != nil {
			return fail(ExitUsage, "write the replay: %v", err)
		}
	} else {
		printReplay(s.out, chain, against, sum, listed, p.show)
	}
	if p.failOnChange && sum.Changed > 0 {
		return fail(ExitProblem, "%d recorded decision(s) would change", sum.Changed)
	}
	return nil
}

// loadReplayConfig resolves the policies to replay with as `gatehouse run` resolves them: defaults,
// then the configuration, then GATEHOUSE_* variables, then flags. Only the policy settings matter:
// files the rest of the configuration names (keys, certificates) need not exist here.
func loadReplayConfig(p *replayParams, env []string) (*config.Config, config.Rego, error) {
	set := func(cfg *config.Config) {
		for flag, apply := range map[string]func(){
			"policy":        func() { cfg.Policy.Rules = p.policy },
			"policy-bundle": func() { cfg.Policy.SetBundle(p.policyBundle) },
			"rego-mode":     func() { cfg.Policy.RegoMode = p.regoMode },
			"mode":          func() { cfg.Mode = p.mode },
			"fail":          func() { cfg.Fail = p.fail },
		} {
			if p.changed(flag) {
				apply()
			}
		}
	}
	return loadConfig(p.configFile, env, p.changed, set, nil)
}

// replayedWith names the policies replayed with, engine by engine, with their modes.
func replayedWith(eng *engines) map[string]string {
	out := map[string]string{}
	if eng.rules != nil {
		out["rules"] = eng.rulesRevision() + " (" + string(eng.rules.Mode()) + ")"
	}
	if eng.rego != nil {
		out["rego"] = eng.rego.revision() + " from " + eng.rego.where() + " (" + string(eng.rego.stage.Mode()) + ")"
	}
	if eng.pack != nil {
		out["pack"] = eng.packRevision() + " (" + string(eng.pack.Mode()) + ")"
	}
	return out
}

func printReplay(w io.Writer, chain *auditlog.Report, against map[string]string, sum replay.Summary, listed []*replay.Result, show int) {
	fmt.Fprintf(w, "replayed %d of %d decision(s) from %d file(s), seq %d–%d, chain intact\n",
		sum.Replayed, sum.Decisions, len(chain.Files), chain.FirstSeq, chain.LastSeq)
	if len(against) == 0 {
		fmt.Fprintln(w, "  against: no policy engine (mode off): every call is allowed")
	}
	for _, name := range slices.Sorted(maps.Keys(against)) {
		fmt.Fprintf(w, "  against %-5s %s\n", name+":", against[name])
	}
	fmt.Fprintf(w, "\nchanged:    %d\n", sum.Changed)
	for _, t := range slices.Sorted(maps.Keys(sum.Transitions)) {
		fmt.Fprintf(w, "  %-40s %d\n", t, sum.Transitions[t])
	}
	fmt.Fprintf(w, "uncertain:  %d", sum.Uncertain)
	if sum.Uncertain > 0 {
		fmt.Fprint(w, " (decided otherwise, but from a record that lacks part of the call: see inexact below each)")
	}
	fmt.Fprintf(w, "\nunchanged:  %d", sum.Unchanged)
	if sum.OtherRule > 0 {
		fmt.Fprintf(w, " (%d decided by another rule or for another reason)", sum.OtherRule)
	}
	fmt.Fprintln(w)
	skipped := 0
	for _, n := range sum.Skipped {
		skipped += n
	}
	fmt.Fprintf(w, "not replayed: %d\n", skipped)
	for _, why := range slices.Sorted(maps.Keys(sum.Skipped)) {
		fmt.Fprintf(w, "  %-60s %d\n", why, sum.Skipped[why])
	}
	if len(listed) == 0 {
		return
	}
	fmt.Fprintln(w)
	for i, res := range listed {
		if show > 0 && i == show {
			fmt.Fprintf(w, "… and %d more (--show 0 lists all, --format json gives them all)\n", len(listed)-show)
			break
		}
		printResult(w, res)
	}
}

func printResult(w io.Writer, res *replay.Result) {
	who := res.Agent
	if who == "" {
		who = "-"
	}
	fmt.Fprintf(w, "seq %d  %s  %s  agent %s  %s %s\n", res.Seq, res.Status, res.Time.UTC().Format(auditlog.TimeLayout), who, res.Method, res.Target)
	fmt.Fprintf(w, "  then: %s\n", describeOutcome(res.Then))
	fmt.Fprintf(w, "  now:  %s\n", describeOutcome(*res.Now))
	if len(res.Inexact) > 0 {
		fmt.Fprintf(w, "  inexact: %s\n", strings.Join(res.Inexact, ", "))
	}
}

func describeOutcome(o replay.Outcome) string {
	s := o.Effect
	if o.Effect == replay.Forwarded {
		s = "forwarded (the upstream then failed; the exact effect was not recorded)"
	}
	if o.Would != "" {
		s += ", would " + o.Would
	}
	if o.Code != "" {
		s += " (" + o.Code + ")"
	}
	if o.RuleID != "" {
		s += "  rule " + o.RuleID
	}
	if o.Engine != "" && o.Effect != replay.Forwarded {
		s += "  by " + o.Engine
	}
	if o.Reason != "" {
		s += ": " + o.Reason
	}
	return s
}
