package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/gateway"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
)

// runParams are the inputs of `gatehouse run`.
type runParams struct {
	configFile     string
	policy         string
	audit          string
	auditKey       string
	durability     string
	fail           string
	mode           string
	agent          string
	roles          []string
	name           string
	logLevel       string
	logFormat      string
	maxMessageMB   int
	requestTimeout time.Duration
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

Stdout carries MCP only; gatehouse logs JSON lines to stderr. The effective mode, fail posture,
policy revision and request path are logged at start-up. SIGHUP reloads the rules file (a broken
file is refused and the old policy stays); SIGINT and SIGTERM shut down gracefully.

Settings come from defaults, then --config, then GATEHOUSE_* environment variables, then flags.`,
		Example: `  # Wrap the reference server with a rules policy and an audit log
  gatehouse run --policy examples/policies/everything-demo.yaml --audit audit.jsonl \
    -- npx -y @modelcontextprotocol/server-everything stdio

  # Observe only: compute and audit decisions, log would_deny, block nothing
  gatehouse run --mode monitor --policy policy.yaml -- ./my-server --flag

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
	f.StringVar(&p.audit, "audit", "", "audit log file (default gatehouse-audit.jsonl)")
	f.StringVar(&p.auditKey, "audit-key", "", "Ed25519 private key (from gatehouse keygen) that signs audit checkpoints")
	f.StringVar(&p.durability, "audit-durability", "", "when an answer is released: fsync (default: its record is fsync'd) or write (its record is written; fsync follows)")
	f.StringVar(&p.fail, "fail", "", "posture when a policy engine fails: closed (default) or open")
	f.StringVar(&p.mode, "mode", "", "enforce (default), monitor (log would_deny, allow) or off (no policy, audit only)")
	f.StringVar(&p.agent, "agent", "", "trusted local agent id that rules match with agents and agent.id")
	f.StringSliceVar(&p.roles, "roles", nil, "comma-separated roles of the local agent, matched by require_roles")
	f.StringVar(&p.name, "name", "", "name of the upstream in audit records and servers globs (default upstream)")
	f.StringVar(&p.logLevel, "log-level", "", "debug, info (default), warn or error")
	f.StringVar(&p.logFormat, "log-format", "", "json (default) or text")
	f.IntVar(&p.maxMessageMB, "max-message-mb", 0, "largest message accepted from either side, in MiB (default 50)")
	f.DurationVar(&p.requestTimeout, "request-timeout", 0, "longest a request may wait for the upstream's answer (default 5m)")
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
}

// loadRunConfig resolves the effective configuration of `gatehouse run`.
func loadRunConfig(p *runParams, env []string) (*config.Config, error) {
	cfg, src, err := config.Load(p.configFile, env)
	if err != nil {
		return nil, fail(ExitUsage, "configuration:\n%v", err)
	}
	p.applyFlags(cfg)
	if err := cfg.Validate(src); err != nil {
		return nil, fail(ExitUsage, "configuration:\n%v", err)
	}
	return cfg, nil
}

func runGateway(ctx context.Context, p *runParams, s streams) error {
	cfg, err := loadRunConfig(p, s.env)
	if err != nil {
		return err
	}
	logger := newLogger(s.err, cfg.Log.Level, cfg.Log.Format)

	var pol *rules.Policy
	if cfg.Policy.Rules != "" {
		if pol, err = loadRules(cfg.Policy.Rules, logger); err != nil {
			return fail(ExitUsage, "%v", err)
		}
	}
	w, err := openAudit(cfg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			logger.Error("closing the audit log", "error", err)
		}
	}() // Close is idempotent: normally the relay has sealed the log already.

	mode, posture := pipeline.Mode(cfg.Mode), pipeline.Fail(cfg.Fail)
	var engines []*engine.Stage
	if pol != nil && mode != pipeline.ModeOff {
		metrics := engine.NewMetrics(prometheus.NewRegistry())
		engines = append(engines, engine.New(engine.Config{Name: "rules", Mode: mode, Fail: posture, Metrics: metrics, Logger: logger}, engine.NewRules(pol)))
	}
	store := state.NewMemory(nil)
	limits := jsonrpc.Limits{MaxBytes: cfg.Limits.MaxMessageMB << 20, MaxDepth: cfg.Limits.MaxDepth}
	gw := gateway.New(gateway.Options{
		Limits:         limits,
		Identity:       identity.NewLocal(cfg.Identity.Agent, cfg.Identity.Roles),
		Engines:        engines,
		Fail:           posture,
		Store:          store,
		Recorder:       audit.NewRecorder(w, cfg.Mode, logger),
		Logger:         logger,
		RequestTimeout: cfg.Upstream.RequestTimeout.D(),
		HangAfter:      cfg.Upstream.HangAfter.D(),
		PingTimeout:    cfg.Upstream.PingTimeout.D(),
		DrainTimeout:   cfg.Upstream.DrainTimeout.D(),
	})
	up := upstream.NewStdio(upstream.StdioConfig{
		Name:       cfg.Upstream.Name,
		Command:    p.command,
		MaxFrame:   limits.MaxBytes,
		BackoffMax: cfg.Upstream.RestartBackoffMax.D(),
		Logger:     logger,
	})
	sess := &gateway.Session{ID: "sess_" + rand.Text(), Upstream: cfg.Upstream.Name}

	revision := "none"
	if pol != nil {
		revision = pol.Revision()
	}
	logger.Info("gatehouse run starting",
		"mode", cfg.Mode, "fail", cfg.Fail, "policy", cfg.Policy.Rules, "policy_revision", revision,
		"audit", cfg.Audit.Path, "audit_signed", cfg.Audit.Key != "", "audit_durability", cfg.Audit.Durability, "agent", cfg.Identity.Agent, "roles", cfg.Identity.Roles,
		"session", sess.ID, "request_path", gw.RequestPath(), "upstream", cfg.Upstream.Name, "command", p.command)

	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// When the client goes away, stdout and stderr become broken pipes. Go exits a program that writes
	// to a broken stdout or stderr unless SIGPIPE is being notified; gatehouse must instead finish its
	// shutdown (drain, close the audit log with its checkpoint), so it asks for SIGPIPE and ignores it.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if len(engines) > 0 {
		go reloadOnHUP(ctx, cfg.Policy.Rules, engines[0], logger)
	}

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

// openAudit opens the audit log the configuration names.
func openAudit(cfg *config.Config, logger *slog.Logger) (*auditlog.Writer, error) {
	opts := auditlog.Options{Path: cfg.Audit.Path, MaxBytes: int64(cfg.Audit.MaxSizeMB) << 20, Logger: logger,
		Durability: auditlog.Durability(cfg.Audit.Durability)}
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

// reloadOnHUP reloads the rules file on SIGHUP. A file that does not load is refused and the policy in
// force stays (SPEC §5.5).
func reloadOnHUP(ctx context.Context, path string, st *engine.Stage, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			pol, err := loadRules(path, logger)
			if err != nil {
				logger.Error("policy reload refused; keeping the policy in force", "error", err, "revision", st.Current().Revision())
				continue
			}
			st.Swap(engine.NewRules(pol))
			logger.Info("policy reloaded", "revision", pol.Revision())
		}
	}
}
