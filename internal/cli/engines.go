package cli

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/pack"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/policysource"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/policies"
)

// engines are the policy engines of run and serve: the native rules, then Rego (rewrites apply in
// this order), with what reloads them.
type engines struct {
	rulesPath string
	rules     *engine.Stage // nil without a rules file, or in mode off
	pol       *rules.Policy
	rego      *regoEngine   // nil when the Rego engine is off
	pack      *engine.Stage // nil without a pack, or in mode off
	// packConfig names the pack and its mapping, and packAgents the agent tools it serves, for
	// reloads.
	packConfig *config.PolicyConfig
	packAgents pack.AgentTools
}

// startEngines builds the engines the configuration names and loads their policies. A rules file
// that does not load is an error; a Rego bundle that does not load is not (SPEC §5.7, startRego).
func startEngines(ctx context.Context, cfg *config.Config, plan config.Rego, reg prometheus.Registerer, logger *slog.Logger) (*engines, error) {
	e := &engines{rulesPath: cfg.Policy.Rules}
	mode, posture := pipeline.Mode(cfg.Mode), pipeline.Fail(cfg.Fail)
	metrics := engine.NewMetrics(reg)
	if cfg.Policy.Rules != "" {
		pol, err := loadRules(cfg.Policy.Rules, logger)
		if err != nil {
			return nil, err
		}
		e.pol = pol
		if mode != pipeline.ModeOff {
			e.rules = engine.New(engine.Config{Name: "rules", Mode: mode, Fail: posture, Metrics: metrics, Logger: logger}, engine.NewRules(pol))
		}
	}
	rg, err := startRego(ctx, cfg, plan, metrics, reg, logger)
	if err != nil {
		return nil, err
	}
	e.rego = rg
	if cfg.Policy.Pack != "" {
		packMode := pipeline.Mode(cmp.Or(cfg.Policy.PackMode, cfg.Mode))
		e.packAgents.Policy, e.packAgents.Evaluate = cfg.PackAgentTools()
		e.packAgents.Server = config.AgentToolsUpstream
		d, err := loadPackDecider(&cfg.Policy, e.packAgents, logger)
		if err != nil {
			return nil, err
		}
		if packMode != pipeline.ModeOff {
			e.pack = engine.New(engine.Config{Name: "pack", Mode: packMode, Fail: posture, Metrics: metrics, Logger: logger}, d)
			e.packConfig = &cfg.Policy
		}
	}
	return e, nil
}

// loadPackDecider loads the configuration's policy pack with its tool mapping, and logs its hash.
func loadPackDecider(pc *config.PolicyConfig, agents pack.AgentTools, logger *slog.Logger) (*pack.Decider, error) {
	pk, err := loadPack(pc.Pack, strings.TrimPrefix(pc.PackSHA256, "sha256:"))
	if err != nil {
		return nil, err
	}
	tools := make([]pack.Tool, len(pc.PackTools))
	for i, t := range pc.PackTools {
		tools[i] = pack.Tool{Tool: t.Tool, Namespace: t.Namespace, Access: t.Access, GatePhase: t.GatePhase, ChangeClass: t.ChangeClass,
			BranchName: t.Arguments.BranchName, ChangedPaths: t.Arguments.ChangedPaths, DiffLineCount: t.Arguments.DiffLineCount}
	}
	d, err := pack.NewDecider(pk, tools, agents)
	if err != nil {
		return nil, fmt.Errorf("policy.pack_tools: %w", err)
	}
	logger.Info("policy pack loaded", "pack", pc.Pack, "sha256", pk.SHA256(), "policy_id", pk.ID(), "workflows", len(pk.Workflows()), "tools_mapped", len(tools))
	return d, nil
}

// stages lists the engine stages in the order they decide.
func (e *engines) stages() []*engine.Stage {
	var out []*engine.Stage
	if e.rules != nil {
		out = append(out, e.rules)
	}
	if e.rego != nil {
		out = append(out, e.rego.stage)
	}
	if e.pack != nil {
		out = append(out, e.pack)
	}
	return out
}

// rulesRevision is the revision of the rules file, "none" without one.
func (e *engines) rulesRevision() string {
	if e.pol == nil {
		return "none"
	}
	return e.pol.Revision()
}

// watch reloads the policies on SIGHUP, and polls the bundle when it should, until ctx ends. It is
// registered before serving starts: a SIGHUP that arrived with no handler would kill gatehouse.
func (e *engines) watch(ctx context.Context, logger *slog.Logger) {
	if e.rules == nil && e.rego == nil && e.pack == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		<-ctx.Done()
		signal.Stop(hup)
	}()
	go e.reloadOnHUP(ctx, hup, logger)
	if e.rego != nil && e.rego.source != nil {
		go e.rego.source.Run(ctx)
	}
}

// modes is the effective mode of every engine, e.g. "rules=enforce,rego=monitor".
func (e *engines) modes() string { return engineModes(e.rules, e.rego, e.pack) }

// recordedMode is the mode written on audit records.
func (e *engines) recordedMode(mode string) string {
	return recordedMode(mode, e.rules, e.rego, e.pack)
}

// packRevision is the SHA-256 of the pack in force, "none" without one.
func (e *engines) packRevision() string {
	if e.pack == nil || e.pack.Current() == nil {
		return "none"
	}
	return e.pack.Current().Revision()
}

// loadRules reads and compiles a rules file, logging its warnings.
func loadRules(path string, logger *slog.Logger) (*rules.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	pol, err := rules.Load(path, data)
	if err != nil {
		return nil, fmt.Errorf("policy %s does not load:\n%v", path, err)
	}
	for _, w := range pol.Warnings() {
		logger.Warn("policy warning", "problem", w.String())
	}
	return pol, nil
}

// reloadOnHUP reloads the rules file, the Rego bundle and the policy pack on SIGHUP. A file or
// bundle that does not load is refused and the policy in force stays (SPEC §5.5, §6.3).
func (e *engines) reloadOnHUP(ctx context.Context, hup <-chan os.Signal, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if e.rules != nil {
				pol, err := loadRules(e.rulesPath, logger)
				if err != nil {
					logger.Error("policy reload refused; keeping the policy in force", "error", err, "revision", e.rules.Current().Revision())
				} else {
					e.rules.Swap(engine.NewRules(pol))
					logger.Info("policy reloaded", "revision", pol.Revision())
				}
			}
			if e.rego != nil && e.rego.source != nil {
				e.rego.source.Load(ctx) // logged (and, when refused, counted) by the source
			}
			if e.pack != nil {
				if d, err := loadPackDecider(e.packConfig, e.packAgents, logger); err != nil {
					logger.Error("policy pack reload refused; keeping the pack in force", "error", err, "sha256", e.packRevision())
				} else {
					e.pack.Swap(d)
				}
			}
		}
	}
}

// regoEngine is the Rego engine of gatehouse run: its stage and the source that feeds it bundles.
type regoEngine struct {
	stage  *engine.Stage
	source *policysource.Source // nil when the engine is on with no bundle named
	plan   config.Rego
}

// startRego builds the Rego engine when the configuration turns it on, and loads its bundle. A bundle
// that is missing or refused does not stop gatehouse (SPEC §5.7): the engine runs without one, failing
// open (Unloaded) when no fail posture was chosen, and under that posture otherwise, until a reload
// brings a bundle. A configuration that cannot work (an unreadable public key) is an error.
func startRego(ctx context.Context, cfg *config.Config, plan config.Rego, metrics *engine.Metrics, reg prometheus.Registerer, logger *slog.Logger) (*regoEngine, error) {
	if !plan.Enabled {
		return nil, nil
	}
	st := engine.New(engine.Config{Name: "rego", Mode: pipeline.Mode(plan.Mode), Fail: pipeline.Fail(cfg.Fail), Metrics: metrics, Logger: logger}, nil)
	rg := &regoEngine{stage: st, plan: plan}
	where := cfg.Policy.Bundle + cfg.Policy.BundleURL
	if plan.FailOpenUnloaded {
		st.Swap(policysource.Unloaded{Logger: logger, Source: where})
	}
	if where == "" {
		logger.Error("the Rego engine is enabled but no bundle is named (policy.bundle, --policy-bundle, POLICY_BUNDLE_PATH or POLICY_BUNDLE_URL)",
			"rego_mode", plan.Mode, "rego_fail", rg.posture(cfg.Fail))
		return rg, nil
	}
	var builtin fs.FS
	if config.IsBuiltinBundle(cfg.Policy.Bundle) {
		builtin = policies.Starter()
	}
	src, err := policysource.New(policysource.Config{
		Engine: "rego", Path: cfg.Policy.Bundle, URL: cfg.Policy.BundleURL, FS: builtin, SHA256: cfg.Policy.BundleSHA256,
		PublicKey: cfg.Policy.BundlePublicKey, Poll: plan.Poll, Rego: rego.Options{Query: plan.Query, Timeout: plan.Timeout, Evaluator: plan.Evaluator},
		Logger: logger, Registerer: reg,
	}, func(d *rego.Decider) { st.Swap(d) })
	if err != nil {
		return nil, err
	}
	rg.source = src
	if err := src.Load(ctx); err != nil {
		logger.Error("starting without a Rego bundle; it will be used once it loads (SIGHUP, or the poll loop)",
			"bundle", src.Status().Source, "rego_mode", plan.Mode, "rego_fail", rg.posture(cfg.Fail))
	}
	return rg, nil
}

// posture says how the Rego engine treats a call it cannot decide, for the start-up log.
func (rg *regoEngine) posture(fail string) string {
	switch {
	case rg == nil:
		return "-"
	case rg.plan.FailOpenUnloaded && rg.revision() == "none":
		return "open until a bundle loads (fail not set), then " + fail
	}
	return fail
}

func (rg *regoEngine) where() string {
	if rg == nil || rg.source == nil {
		return ""
	}
	return rg.source.Status().Source
}

func (rg *regoEngine) revision() string {
	if rg == nil || rg.source == nil || rg.source.Status().Revision == "" {
		return "none"
	}
	return rg.source.Status().Revision
}

// engineModes is the effective mode of every engine, e.g. "rules=enforce,rego=monitor".
func engineModes(rulesStage *engine.Stage, rg *regoEngine, packStage *engine.Stage) string {
	var parts []string
	if rulesStage != nil {
		parts = append(parts, "rules="+string(rulesStage.Mode()))
	}
	if rg != nil {
		parts = append(parts, "rego="+string(rg.stage.Mode()))
	}
	if packStage != nil {
		parts = append(parts, "pack="+string(packStage.Mode()))
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, ",")
}

// recordedMode is the mode written on audit records: the global mode when only the rules engine runs
// (as before the other engines existed), the per-engine summary when Rego or a pack runs too.
func recordedMode(mode string, rulesStage *engine.Stage, rg *regoEngine, packStage *engine.Stage) string {
	if rg == nil && packStage == nil {
		return mode
	}
	return engineModes(rulesStage, rg, packStage)
}
