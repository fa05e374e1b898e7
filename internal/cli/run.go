package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/gateway"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
)

// runParams are the inputs of `gatehouse run`.
type runParams struct {
	configFile     string
	policy         string
	policyBundle   string
	regoMode       string
	audit          string
	auditKey       string
	durability     string
	fail           string
	mode           string
	agent          string
	roles          []string
	agentToken     string
	pubkey         string
	secretFile     string
	secret         string
	name           string
	logLevel       string
	logFormat      string
	maxMessageMB   int
	requestTimeout time.Duration
	eventLoop      bool
	command        []string
	// changed reports whether a flag was given, so that only given flags override the file and env.
	changed func(flag string) bool
}

func newRunCommand(s streams) *cobra.Command {
	p := &runParams{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- <server command...>",
		Short: "Wrap a stdio MCP server and decide every request by policy",
		Long: `run starts the MCP server given after -- as a child process and speaks MCP over stdio on both
sides: your MCP client launches gatehouse instead of the server. Every request is decided by the
policy, every decision is written to the audit log (fsync'd before the answer reaches the client),
and the server is restarted with backoff if it crashes or hangs.

Stdout carries MCP only; gatehouse logs JSON lines to stderr. The effective mode of every engine, the
fail posture, the policy and bundle revisions and the request path are logged at start-up. SIGHUP
reloads the rules file and the Rego bundle (a broken one is refused and the old policy stays);
SIGUSR1 kills everything: every later request is refused session_killed until gatehouse restarts.
SIGINT and SIGTERM shut down gracefully.

A Rego bundle (--policy-bundle, docs/policy-rego.md) runs next to the rules, or alone. Unless told
otherwise (--rego-mode, an explicit --mode, or EXPERIMENTAL_POLICY_ENGINE=true) the Rego engine runs
in monitor mode: would-be refusals are logged as would_deny and audited, and calls go through.

Settings come from defaults, then --config, then GATEHOUSE_* environment variables, then flags.`,
		Example: `  # Wrap the reference server with a rules policy and an audit log
  gatehouse run --policy examples/policies/everything-demo.yaml --audit audit.jsonl \
    -- npx -y @modelcontextprotocol/server-everything stdio

  # Observe only: compute and audit decisions, log would_deny, block nothing
  gatehouse run --mode monitor --policy policy.yaml -- ./my-server --flag

  # The starter Rego policies, enforced, hot-reloaded on SIGHUP
  gatehouse run --policy-bundle policies/ --rego-mode enforce --roles dev -- ./my-server

  # A signed bundle from a URL, polled every 30 s (ETag)
  POLICY_POLL_SEC=30 EXPERIMENTAL_POLICY_ENGINE=true \
    gatehouse run --config gatehouse.yaml --policy-bundle https://bundles.example.com/mcp.tar.gz -- ./my-server

  # In an MCP client configuration
  {"command": "gatehouse", "args": ["run", "--policy", "/etc/gatehouse/policy.yaml", "--", "my-server"]}`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("run needs the server command after --, for example: gatehouse run --policy p.yaml -- my-mcp-server")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			p.command = args
			p.changed = cmd.Flags().Changed
			return runGateway(cmd.Context(), p, s)
		},
	}
	f := cmd.Flags()
	// Everything after the server command belongs to the server, even if it looks like a flag.
	f.SetInterspersed(false)
	f.StringVar(&p.configFile, "config", "", "YAML configuration file (see docs/configuration.md)")
	f.StringVar(&p.policy, "policy", "", "native rules policy file, YAML or JSON (see docs/policy-rules.md)")
	f.StringVar(&p.policyBundle, "policy-bundle", "", "Rego bundle: a directory, a .tar.gz, or an http(s) URL (see docs/policy-rego.md)")
	f.StringVar(&p.regoMode, "rego-mode", "", "the Rego engine's mode: enforce, monitor (the default unless --mode or EXPERIMENTAL_POLICY_ENGINE says otherwise) or off")
	f.StringVar(&p.audit, "audit", "", "audit log file (default gatehouse-audit.jsonl)")
	f.StringVar(&p.auditKey, "audit-key", "", "Ed25519 private key (from gatehouse keygen) that signs audit checkpoints")
	f.StringVar(&p.durability, "audit-durability", "", "when an answer is released: fsync (default: its record is fsync'd) or write (its record is written; an fsync follows within audit.sync_delay, 10 ms by default)")
	f.StringVar(&p.fail, "fail", "", "posture when a policy engine fails: closed (default) or open")
	f.StringVar(&p.mode, "mode", "", "enforce (default), monitor (log would_deny, allow) or off (no policy, audit only)")
	f.StringVar(&p.agent, "agent", "", "trusted local agent id that rules match with agents and agent.id")
	f.StringSliceVar(&p.roles, "roles", nil, "comma-separated roles of the local agent, matched by require_roles")
	f.StringVar(&p.agentToken, "agent-token", "", "signed agent token (gatehouse token) naming the agent, roles and tenant; prefer $"+EnvAgentToken+": arguments are visible in ps")
	f.StringVar(&p.pubkey, "pubkey", "", "Ed25519 public key (PEM, from gatehouse keygen) that verifies an ed25519 agent token")
	f.StringVar(&p.secretFile, "secret-file", "", "file holding the shared secret that verifies an hmac agent token (default: $"+EnvAgentSecret+")")
	f.StringVar(&p.secret, "secret", "", "the shared secret itself that verifies an hmac agent token; visible in ps: prefer --secret-file or $"+EnvAgentSecret)
	f.StringVar(&p.name, "name", "", "name of the upstream in audit records and servers globs (default upstream)")
	f.StringVar(&p.logLevel, "log-level", "", "debug, info (default), warn or error")
	f.StringVar(&p.logFormat, "log-format", "", "json (default) or text")
	f.IntVar(&p.maxMessageMB, "max-message-mb", 0, "largest message accepted from either side, in MiB (default 50)")
	f.DurationVar(&p.requestTimeout, "request-timeout", 0, "longest a request may wait for the upstream's answer (default 5m)")
	f.BoolVar(&p.eventLoop, "event-loop", false, "read the client and the server on one event loop (Linux; upstream.event_loop, see BENCHMARKS.md for when it helps)")
	return cmd
}

// applyFlags lays the flags that were given over the loaded configuration.
func (p *runParams) applyFlags(cfg *config.Config) {
	set := func(flag string, apply func()) {
		if p.changed(flag) {
			apply()
		}
	}
	set("policy", func() { cfg.Policy.Rules = p.policy })
	set("policy-bundle", func() { cfg.Policy.SetBundle(p.policyBundle) })
	set("rego-mode", func() { cfg.Policy.RegoMode = p.regoMode })
	set("audit", func() { cfg.Audit.Path = p.audit })
	set("audit-key", func() { cfg.Audit.Key = p.auditKey })
	set("audit-durability", func() { cfg.Audit.Durability = p.durability })
	set("fail", func() { cfg.Fail = p.fail })
	set("mode", func() { cfg.Mode = p.mode })
	set("agent", func() { cfg.Identity.Agent = p.agent })
	set("roles", func() { cfg.Identity.Roles = p.roles })
	set("name", func() { cfg.Upstream.Name = p.name })
	set("log-level", func() { cfg.Log.Level = p.logLevel })
	set("log-format", func() { cfg.Log.Format = p.logFormat })
	set("max-message-mb", func() { cfg.Limits.MaxMessageMB = p.maxMessageMB })
	set("request-timeout", func() { cfg.Upstream.RequestTimeout = config.Duration(p.requestTimeout) })
	set("event-loop", func() { cfg.Upstream.EventLoop = p.eventLoop })
}

// flagKeys names the setting each flag that matters to an explicit-or-default question sets.
var flagKeys = map[string]string{"fail": "fail", "mode": "mode", "rego-mode": "policy.rego_mode", "policy-bundle": "policy.bundle"}

// loadRunConfig resolves the effective configuration of `gatehouse run`, and how the Rego engine runs.
func loadRunConfig(p *runParams, env []string) (*config.Config, config.Rego, error) {
	return loadConfig(p.configFile, env, p.changed, p.applyFlags, func(cfg *config.Config, src *config.Source) []config.Problem {
		return startupFiles(cfg.Files(src))
	})
}

// loadConfig loads a configuration file (none: the defaults) with the environment over it, lays the
// given flags over both (apply), validates the result, with the problems files finds, and resolves
// how the Rego engine runs, a flag counting as an explicit setting (changed).
func loadConfig(file string, env []string, changed func(flag string) bool, apply func(*config.Config),
	files func(*config.Config, *config.Source) []config.Problem) (*config.Config, config.Rego, error) {
	cfg, src, err := config.Load(file, env)
	if err != nil {
		return nil, config.Rego{}, fail(ExitUsage, "configuration:\n%v", err)
	}
	apply(cfg)
	var more []config.Problem
	if files != nil {
		more = files(cfg, src)
	}
	if err := joinConfigErrors(cfg.Validate(src), more); err != nil {
		return nil, config.Rego{}, fail(ExitUsage, "configuration:\n%v", err)
	}
	explicit := func(key string) bool {
		for flag, k := range flagKeys {
			if k == key && changed(flag) {
				return true
			}
		}
		return src.Explicit(key)
	}
	return cfg, cfg.ResolveRego(explicit), nil
}

func runGateway(ctx context.Context, p *runParams, s streams) error {
	usr1 := notifyUSR1() // first: a stop sent while gatehouse starts is kept for killOnUSR1
	defer signal.Stop(usr1)
	ignoreSIGPIPE()
	cfg, plan, err := loadRunConfig(p, s.env)
	if err != nil {
		return err
	}
	logger := newLogger(s.err, cfg.Log.Level, cfg.Log.Format)
	if ctx == nil {
		ctx = context.Background()
	}
	if err := hideProcess(); err != nil {
		logger.Warn("could not make the process non-dumpable; servers running as the same user may read its environment", "error", err)
	}

	posture := pipeline.Fail(cfg.Fail)
	// gatehouse run has no admin listener, so it keeps no metrics: a nil registry makes every stage
	// skip its counting (4–7 µs a call on the reference machine, for numbers nobody could read).
	var reg prometheus.Registerer
	eng, err := startEngines(ctx, cfg, plan, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	threatStage, pins, err := buildThreat(cfg.Threat, cfg.Pins, posture, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	who, err := runIdentity(p, cfg, s.env, logger)
	if err != nil {
		return err
	}
	rec, err := openRecording(ctx, cfg, "pipe", s, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer rec.Close() // normally the relay has sealed the log already
	w, tracer := rec.w, rec.tracer

	store, closeStore, err := openStore(ctx, cfg.State, os.Getenv, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer closeStore()
	recorder := audit.NewRecorder(w, eng.recordedMode(cfg.Mode), logger)
	approvals, err := approvalOptions(ctx, cfg.Approvals, os.Getenv, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	limits := jsonrpc.Limits{MaxBytes: cfg.Limits.MaxMessageMB << 20, MaxDepth: cfg.Limits.MaxDepth, MaxTokens: cfg.Limits.MaxTokens}
	opts := gateway.Options{
		Limits:         limits,
		Identity:       who.stage,
		Engines:        eng.stages(),
		Threat:         threatStage,
		Pins:           pins,
		Fail:           posture,
		Store:          store,
		Approvals:      approvals,
		Recorder:       recorder,
		Logger:         logger,
		Tracer:         tracer,
		RequestTimeout: cfg.Upstream.RequestTimeout.D(),
		HangAfter:      cfg.Upstream.HangAfter.D(),
		PingTimeout:    cfg.Upstream.PingTimeout.D(),
		DrainTimeout:   cfg.Upstream.DrainTimeout.D(),
		EventLoop:      cfg.Upstream.EventLoop,
		Metrics:        gateway.NewMetrics(reg),
	}
	if tools := newPackToolset(cfg, eng); tools != nil {
		opts.Local, opts.LocalPrefix = tools, config.AgentToolsUpstream
	}
	gw := gateway.New(opts)
	up := upstream.NewStdio(upstream.StdioConfig{
		Name:       cfg.Upstream.Name,
		Command:    p.command,
		MaxFrame:   limits.MaxBytes,
		BackoffMax: cfg.Upstream.RestartBackoffMax.D(),
		Withhold:   slices.Concat([]string{cfg.State.Redis.PasswordEnv, cfg.Approvals.Webhook.SecretEnv}, cfg.Audit.SecretEnv(), cfg.Tracing.SecretEnv()),
		Logger:     logger,
	})
	sess := &gateway.Session{ID: "sess_" + rand.Text(), Upstream: cfg.Upstream.Name}
	defer func() {
		// What the session kept goes with it (in Redis it would outlive the process).
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := store.Forget(fctx, "session:"+sess.ID); err != nil {
			logger.Error("the session's budget counters and kill could not be dropped", "error", err)
		}
	}()

	logger.Info("gatehouse run starting",
		"mode", cfg.Mode, "engines", eng.modes(), "fail", cfg.Fail, "rego_fail", eng.rego.posture(cfg.Fail),
		"policy", cfg.Policy.Rules, "policy_revision", eng.rulesRevision(), "bundle", eng.rego.where(), "bundle_revision", eng.rego.revision(),
		"pack", cfg.Policy.Pack, "pack_sha256", eng.packRevision(),
		"threat", cfg.Threat.String(), "pins", pins != nil,
		"audit", cfg.Audit.Path, "audit_signed", cfg.Audit.Key != "", "audit_durability", cfg.Audit.Durability,
		"identity", who.describe, "agent", who.agent, "roles", who.roles,
		"session", sess.ID, "request_path", gw.RequestPath(), "upstream", cfg.Upstream.Name, "command", p.command)

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	eng.watch(ctx, logger)
	liftHint := "none in gatehouse run: restart it"
	if cfg.State.Redis.URL != "" {
		liftHint = `POST /admin/v1/kills/lift {"scope": "all"} on a gatehouse serve sharing its Redis, or HDEL ` + cfg.State.Redis.Prefix + "kills all"
	}
	killOnUSR1(ctx, usr1, store, recorder, logger, liftHint)
	watchKillFile(ctx, cfg.State.KillFile, time.Second, store, recorder, logger)

	relay := gw.NewRelay(sess, up, s.in, s.out)
	seal := func() {
		// Every answer is written: seal the audit log now, before waiting for the upstream to exit.
		if err := w.Close(); err != nil {
			logger.Error("closing the audit log", "error", err)
		}
	}
	if err := relay.Run(ctx, seal); err != nil {
		logger.Error("gatehouse run failed", "error", err)
		return fail(ExitRuntime, "%v", err)
	}
	logger.Info("gatehouse run stopped", "session", sess.ID)
	return nil
}

// ignoreSIGPIPE keeps gatehouse alive when it writes to a stdout or stderr whose reader went away
// (the client, a log collector reading an audit sink). Go exits a program that writes to a broken
// stdout or stderr unless SIGPIPE is being notified; gatehouse must instead finish its shutdown
// (drain, close the audit log with its checkpoint), so it asks for SIGPIPE, before anything it
// starts can write, and ignores it.
func ignoreSIGPIPE() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) }

// recording is the audit log with what hangs off it: the SIEM sinks that export its lines, and the
// tracer whose spans end when its records are durable.
type recording struct {
	w      *auditlog.Writer
	sinks  auditSinks
	tracer *tracing.Tracer
	logger *slog.Logger
}

// openRecording starts the tracer (for the downstream transport, "pipe" or "tcp"), the sinks and
// the audit log that the configuration names.
func openRecording(ctx context.Context, cfg *config.Config, transport string, s streams, reg prometheus.Registerer, logger *slog.Logger) (*recording, error) {
	tracer, err := startTracing(ctx, cfg.Tracing, transport, os.Getenv, logger)
	if err != nil {
		return nil, err
	}
	sinks, err := newAuditSinks(cfg.Audit.Sinks, s.out, s.err, os.Getenv, reg, logger)
	if err != nil {
		stopTracing(tracer, logger)
		return nil, err
	}
	w, err := openAudit(cfg, logger, sinks)
	if err != nil {
		sinks.Close()
		stopTracing(tracer, logger)
		return nil, err
	}
	return &recording{w: w, sinks: sinks, tracer: tracer, logger: logger}, nil
}

// Close closes the audit log (idempotent: a gateway may have sealed it already), then the sinks,
// so that its last lines go out too, then the tracer, so that the spans of the last calls, which
// end when their records are durable, are exported.
func (r *recording) Close() {
	if err := r.w.Close(); err != nil {
		r.logger.Error("closing the audit log", "error", err)
	}
	r.sinks.Close()
	stopTracing(r.tracer, r.logger)
}

// openAudit opens the audit log the configuration names, exporting its lines to sinks.
func openAudit(cfg *config.Config, logger *slog.Logger, sinks auditSinks) (*auditlog.Writer, error) {
	opts := auditlog.Options{Path: cfg.Audit.Path, MaxBytes: int64(cfg.Audit.MaxSizeMB) << 20, Logger: logger,
		Durability: auditlog.Durability(cfg.Audit.Durability), SyncDelay: cfg.Audit.SyncDelay.D()}
	if len(sinks) > 0 {
		opts.Export = sinks.Export
	}
	if cfg.Audit.CheckpointEvery != nil {
		opts.CheckpointEvery = *cfg.Audit.CheckpointEvery
	}
	if cfg.Audit.CheckpointInterval != nil {
		opts.CheckpointInterval = cfg.Audit.CheckpointInterval.D()
	}
	if cfg.Audit.Key != "" {
		key, err := auditlog.ReadPrivateKeyFile(cfg.Audit.Key)
		if err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
		opts.SigningKey = key
	}
	w, err := auditlog.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return w, nil
}
