package config

import (
	"cmp"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Config is the whole configuration.
type Config struct {
	// Mode is how policy decisions are applied: enforce (default) applies them; monitor computes and
	// audits them, logs a would-be denial as would_deny at WARN, and allows the call; off runs no
	// policy engine at all (calls are still audited).
	Mode string `yaml:"mode"`
	// Fail is the posture when a policy engine or the state behind budgets fails: closed (default)
	// refuses the call with reason policy_error; open allows it and logs at ERROR. The audit log is
	// not subject to it: a call whose record cannot be written is never answered.
	Fail string `yaml:"fail"`
	// Policy names the policies to enforce.
	Policy PolicyConfig `yaml:"policy"`
	// Audit configures the tamper-evident audit log.
	Audit AuditConfig `yaml:"audit"`
	// Identity is the trusted local caller of `gatehouse run`.
	Identity IdentityConfig `yaml:"identity"`
	// Limits bound every message read from either side.
	Limits LimitsConfig `yaml:"limits"`
	// Upstream tunes how the stdio upstream of `gatehouse run` is supervised.
	Upstream UpstreamConfig `yaml:"upstream"`
	// Log configures gatehouse's own log (always on stderr: stdout carries MCP).
	Log LogConfig `yaml:"log"`
	// Threat configures the threat scanner (SPEC §9); Pins, the pinning of tool definitions (§9.3).
	Threat ThreatConfig `yaml:"threat"`
	Pins   PinsConfig   `yaml:"pins"`
	// State bounds what is remembered between calls: budget counters and rate limits' cells.
	State StateConfig `yaml:"state"`
	// Approvals configures what a held call (require_approval) gets: an approval a human decides.
	Approvals ApprovalsConfig `yaml:"approvals"`
	// Tracing exports OpenTelemetry spans of the calls gatehouse decides (SPEC §13.2).
	Tracing TracingConfig `yaml:"tracing"`

	// forServe marks the sections of a serve configuration (ServeConfig.Shared): checks that
	// only hold for gatehouse run are skipped.
	forServe bool
	// separator is serve's federation separator (ServeConfig.Shared), which the names of the
	// pack's agent tools follow; "" for run, whose names are joined by ".".
	separator string
}

// ApprovalsConfig configures human approvals of held calls (SPEC §10.1–10.3).
type ApprovalsConfig struct {
	// Wait is how long a held request stays open waiting for a human's decision (with progress
	// notifications when the client asked for them). 0: answered approval_required at once with the
	// approval's id, and the client retries the same call once it is approved. Default 0.
	Wait Duration `yaml:"wait"`
	// TTL is how long a hold may be decided, and an approval used, after the call was held.
	// Default 1h.
	TTL Duration `yaml:"ttl"`
	// MaxPending bounds the approvals pending at once (across replicas sharing Redis). Default 1000.
	MaxPending int `yaml:"max_pending"`
	// MaxPendingPerCaller bounds those of one caller in one engagement. Default 20.
	MaxPendingPerCaller int `yaml:"max_pending_per_caller"`
	// Webhook is told of every new hold.
	Webhook WebhookConfig `yaml:"webhook"`
}

// WebhookConfig is where new holds are announced.
type WebhookConfig struct {
	// URL receives a POST per new hold. Empty: no webhook.
	URL string `yaml:"url"`
	// SecretEnv and SecretFile give the HMAC-SHA256 key deliveries are signed with: the name of an
	// environment variable, or a file (relative to the configuration file). At most one.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one delivery attempt. Default 5s.
	Timeout Duration `yaml:"timeout"`
}

// StateConfig bounds the state behind budgets and rate limits (SPEC §11.1).
type StateConfig struct {
	// MaxKeys is the most budget counters and rate cells kept at once. Past it a call that needs a
	// new one is refused policy_error (fail: closed) or let through unlimited (fail: open). Default
	// 100,000.
	MaxKeys int `yaml:"max_keys"`
	// MaxKeysPerCaller is the most of them the calls of one caller (principal) may make, so that one
	// caller cannot fill the store for everyone. Default 10,000.
	MaxKeysPerCaller int `yaml:"max_keys_per_caller"`
	// KillFile is a sentinel file (SPEC §10.4): while it exists, the scopes it lists (one per line;
	// empty: all) are killed. Relative to the configuration file. Polled every second.
	KillFile string `yaml:"kill_file"`
	// Redis keeps this state in Redis, shared by every gatehouse that names the same Redis and prefix
	// (SPEC §11.1): budgets, rate limits and kills then hold across replicas and restarts. Unset: in
	// this process's memory.
	Redis RedisConfig `yaml:"redis"`
}

// RedisConfig names the Redis of a shared state store.
type RedisConfig struct {
	// URL is redis://host:port/db, rediss://host:port/db (TLS) or unix:///path/redis.sock?db=N.
	// Empty: no Redis. It must not hold a password. GATEHOUSE_STATE_REDIS_URL overrides it.
	URL string `yaml:"url"`
	// Username is the Redis ACL user (default: Redis's default user).
	Username string `yaml:"username"`
	// PasswordEnv and PasswordFile give the password: the name of an environment variable, or a
	// file (relative to the configuration file) holding it. At most one.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// Prefix begins the name of every key gatehouse keeps. Default "gatehouse:". Gateways that
	// must not share state use different prefixes (or databases).
	Prefix string `yaml:"prefix"`
	// Timeout bounds connecting and each command. Default 250ms.
	Timeout Duration `yaml:"timeout"`
}

// PolicyConfig names the policies to enforce: native rules, a Rego bundle, or both (rules first).
type PolicyConfig struct {
	// Rules is a native rules file (YAML or JSON, SPEC §4). Relative paths are relative to the
	// configuration file.
	Rules string `yaml:"rules"`
	// Enabled turns the Rego engine on or off. Unset: on when bundle or bundle_url is set. On with no
	// bundle (or one that will not load), gatehouse still starts and the Rego engine fails open with an
	// ERROR per call, unless fail is set to closed (SPEC §5.7). Seed variable POLICY_ENABLED.
	Enabled *bool `yaml:"enabled"`
	// Bundle is a Rego bundle: a directory or a bundle file (.tar.gz, as `opa build` or `gatehouse
	// bundle build` writes it). Relative to the configuration file. Seed variable POLICY_BUNDLE_PATH.
	Bundle string `yaml:"bundle"`
	// BundleURL is an http(s) URL of a bundle file, fetched with If-None-Match and polled every
	// poll_seconds. At most one of bundle and bundle_url. Seed variable POLICY_BUNDLE_URL.
	BundleURL string `yaml:"bundle_url"`
	// BundleSHA256 pins the SHA-256 (hex) of the bundle file: any other bundle is refused.
	BundleSHA256 string `yaml:"bundle_sha256"`
	// BundlePublicKey is a PEM public key (RSA or ECDSA); when set, a bundle loads only if its
	// .signatures.json is signed by the matching private key. Relative to the configuration file.
	BundlePublicKey string `yaml:"bundle_public_key"`
	// PollSeconds is how often the bundle is checked for a change (the file's content, or the URL's
	// ETag). Unset: 60 for a URL, never for a path (SIGHUP reloads). 0 never polls. Seed variable
	// POLICY_POLL_SEC.
	PollSeconds *int `yaml:"poll_seconds"`
	// Query is the decision the bundle is asked for. Default data.gatehouse.decision.
	Query string `yaml:"query"`
	// RegoMode is the Rego engine's mode: enforce, monitor or off. Unset: monitor, unless mode is
	// set explicitly or EXPERIMENTAL_POLICY_ENGINE is true (SPEC §5.7); mode off turns it off.
	RegoMode string `yaml:"rego_mode"`
	// RegoTimeout bounds one Rego evaluation; a slower one is an engine error, decided by fail.
	// Default 1s.
	RegoTimeout Duration `yaml:"rego_timeout"`
	// Pack is a workflow policy pack (SPEC §6, docs/policy-pack.md): the SecurityRecipes JSON
	// format that gatehouse pack generate writes. Relative to the configuration file. Loaded at
	// start-up (a pack that does not load stops gatehouse) and again on SIGHUP (a pack that does not
	// load then is refused, and the one in force stays).
	Pack string `yaml:"pack"`
	// PackSHA256 pins the SHA-256 (hex) of the pack file: any other pack is refused, at start-up
	// and on reload.
	PackSHA256 string `yaml:"pack_sha256"`
	// PackMode is the pack engine's mode: enforce, monitor or off. Unset: mode.
	PackMode string `yaml:"pack_mode"`
	// PackTools maps tools to the pack's MCP scopes, first match wins. A tools/call whose tool no
	// entry matches has no scope, and the pack denies it.
	PackTools []PackTool `yaml:"pack_tools"`
	// PackAgentTools serves two tools of gatehouse's own to agents (SPEC §6.4,
	// docs/policy-pack.md): gatehouse.pack_policy (the pack's entry for the caller's workflow) and
	// gatehouse.pack_evaluate (the pack's decision on a call the agent has in mind, without making
	// it). They go through the policies like any tool, so rules or Rego that deny by default must
	// allow them. Needs a pack and the pack engine on. Default false.
	PackAgentTools bool `yaml:"pack_agent_tools"`
	// RegoEvaluator chooses how Rego decisions are evaluated: auto (the default) runs OPA's compiled
	// plan of the decision with gatehouse's plan evaluator when the plan uses only what it
	// implements, and OPA's own evaluator otherwise; topdown always uses OPA's evaluator.
	RegoEvaluator string `yaml:"rego_evaluator"`
}

// PackTool says what the calls of some tools are in a workflow policy pack's terms (SPEC §6.3).
type PackTool struct {
	// Tool is a glob over tool names (* any run of characters, ? one, [seq] one of seq).
	Tool string `yaml:"tool"`
	// Namespace is the call's tool_namespace, an MCP namespace of the pack (repo.contents).
	Namespace string `yaml:"namespace"`
	// Access is the call's tool_access_mode: read, write_branch, write_ticket or approval_required.
	Access string `yaml:"access"`
	// GatePhase, when set, is the call's gate_phase; otherwise the request's _meta
	// (gatehouse/gate_phase) or header (Gatehouse-Gate-Phase) gives it.
	GatePhase string `yaml:"gate_phase"`
	// ChangeClass, when set, is the call's change_class (a manual-review class of the pack holds the
	// call for approval); otherwise _meta or the header may give it.
	ChangeClass string `yaml:"change_class"`
	// Arguments name where in the call's arguments the attributes of a write are read.
	Arguments PackArguments `yaml:"arguments"`
}

// PackArguments are paths into a call's arguments (member names and array positions joined by
// dots: files, change.paths, commits.0.branch). An attribute without a path comes from the
// request's _meta (gatehouse/<attribute>) or header (Gatehouse-<Attribute>), which the agent writes.
type PackArguments struct {
	// BranchName is where the branch written to is (branch_name).
	BranchName string `yaml:"branch_name"`
	// ChangedPaths is where the paths changed are (changed_paths): a list, or one path.
	ChangedPaths string `yaml:"changed_paths"`
	// DiffLineCount is where the number of changed lines is (diff_line_count).
	DiffLineCount string `yaml:"diff_line_count"`
}

// AuditConfig configures the audit log.
type AuditConfig struct {
	// Path is the active audit file (JSON Lines). Default gatehouse-audit.jsonl in the working
	// directory.
	Path string `yaml:"path"`
	// MaxSizeMB rotates the file when it grows past this many MiB, keeping the hash chain across
	// files. 0 never rotates. Default 100.
	MaxSizeMB int `yaml:"max_size_mb"`
	// Key is an Ed25519 private key file (from `gatehouse keygen`) used to sign checkpoints. Without
	// it checkpoints are written unsigned, and only the hash chain protects the log.
	Key string `yaml:"key"`
	// CheckpointEvery writes a checkpoint after this many records. Default 1000; 0 disables.
	CheckpointEvery *int `yaml:"checkpoint_every"`
	// CheckpointInterval also writes one when this much time has passed since the last. Default
	// 60s; 0 disables.
	CheckpointInterval *Duration `yaml:"checkpoint_interval"`
	// Durability is when an answer is released: fsync (default) once its record is fsync'd, so it
	// survives a power loss; write once its record is written to the operating system, with an
	// fsync following within SyncDelay — it survives a crash of gatehouse, not of the machine, and
	// takes the fsync off every answer's latency.
	Durability string `yaml:"durability"`
	// SyncDelay is, with durability write, the most time between a record's write and its fsync:
	// one fsync covers everything written in that time. What a kernel crash or power loss can take.
	// Default 10ms; between 1ms and 1s.
	SyncDelay Duration `yaml:"sync_delay"`
	// Sinks export every line of the log, once it is fsync'd, to a SIEM (SPEC §12.5). They never
	// replace the local file, and never delay it.
	Sinks []SinkConfig `yaml:"sinks"`
}

// SinkConfig is one destination of the audit log's lines.
type SinkConfig struct {
	// Type is stdout or stderr (JSON Lines, for a log collector) or webhook (batches POSTed as
	// application/x-ndjson).
	Type string `yaml:"type"`
	// Name identifies the sink in logs and metrics. Default: its type. Names are unique.
	Name string `yaml:"name"`
	// URL is where a webhook posts: http:// or https://, no credentials in it.
	URL string `yaml:"url"`
	// SecretEnv and SecretFile give the HMAC-SHA256 key a webhook's deliveries are signed with: the
	// name of an environment variable, or a file (relative to the configuration file). At most one.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// AuthHeader names a header the receiver authenticates with (e.g. Authorization), whose value
	// comes from AuthEnv or AuthFile, exactly one.
	AuthHeader string `yaml:"auth_header"`
	AuthEnv    string `yaml:"auth_env"`
	AuthFile   string `yaml:"auth_file"`
	// Timeout bounds one delivery attempt of a webhook. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// BatchRecords is the most lines in one delivery. Default 500.
	BatchRecords int `yaml:"batch_records"`
	// FlushInterval is the longest a line waits before a delivery. Default 1s.
	FlushInterval Duration `yaml:"flush_interval"`
	// QueueMB bounds the lines waiting for delivery; past it new lines are dropped (and counted).
	// Default 16.
	QueueMB int `yaml:"queue_mb"`
}

// SinkName is the sink's name: Name, or its type.
func (s *SinkConfig) SinkName() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Type
}

// SecretEnv returns the environment variables the tracing exporter reads its credential from.
func (t *TracingConfig) SecretEnv() []string {
	if t.AuthEnv == "" {
		return nil
	}
	return []string{t.AuthEnv}
}

// SecretEnv returns the environment variables the sinks read secrets from.
func (a *AuditConfig) SecretEnv() []string {
	var names []string
	for _, s := range a.Sinks {
		for _, n := range []string{s.SecretEnv, s.AuthEnv} {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// TracingConfig exports a span per decided request to an OpenTelemetry collector over OTLP. Spans
// carry method, tool or prompt name, request id, decision, engine verdicts, upstream and audit
// sequence number; never arguments, results, headers or credentials.
type TracingConfig struct {
	// Enabled turns tracing on. Default off. GATEHOUSE_TRACING_ENABLED (true or false) overrides it.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector: an http:// or https:// URL with a host (and a port, unless the
	// scheme's own), no credentials in it. For http/protobuf a path may follow (default /v1/traces); grpc takes none. Default
	// http://127.0.0.1:4318, or http://127.0.0.1:4317 for grpc. GATEHOUSE_TRACING_ENDPOINT
	// overrides it.
	Endpoint string `yaml:"endpoint"`
	// Protocol is OTLP's http/protobuf (default) or grpc.
	Protocol string `yaml:"protocol"`
	// AuthHeader names a header the collector authenticates with (e.g. Authorization), whose value
	// comes from AuthEnv or AuthFile (relative to the configuration file), exactly one.
	AuthHeader string `yaml:"auth_header"`
	AuthEnv    string `yaml:"auth_env"`
	AuthFile   string `yaml:"auth_file"`
	// CAFile is a PEM bundle an https collector's certificate is verified against, instead of the
	// system's roots. Relative to the configuration file.
	CAFile string `yaml:"ca_file"`
	// SampleRatio is the share of traces begun at gatehouse that are recorded, from 0 to 1.
	// Default 1. A call whose client sent a trace context follows the client's sampling decision
	// (when accept_parent is on).
	SampleRatio float64 `yaml:"sample_ratio"`
	// AcceptParent makes the trace context a client sends (params._meta traceparent, or the HTTP
	// traceparent header) the parent of its calls' spans, and its sampled flag decide whether they
	// are recorded. Off, each call begins a trace of its own, linked to the client's, so that no
	// client chooses what is sampled. Default true.
	AcceptParent bool `yaml:"accept_parent"`
	// Propagate gives the upstream the trace context of gatehouse's span of the forward, in the
	// forwarded request's params._meta traceparent, so the server's spans join the trace. Only a
	// recorded call's request is changed. Default true.
	Propagate bool `yaml:"propagate"`
	// ServiceName is the service.name of the spans. Default gatehouse.
	ServiceName string `yaml:"service_name"`
	// Timeout bounds one export. Default 10s.
	Timeout Duration `yaml:"timeout"`
}

// IdentityConfig is the trusted local identity of `gatehouse run`.
type IdentityConfig struct {
	// Agent is the agent id rules match with agents globs and conditions on agent.id.
	Agent string `yaml:"agent"`
	// Roles are the agent's roles, matched by require_roles.
	Roles []string `yaml:"roles"`
}

// LimitsConfig bounds messages (SPEC §8.5).
type LimitsConfig struct {
	// MaxMessageMB is the largest message accepted from a client or an upstream, in MiB. Default 50
	// (the seed's MCP_MAX_REQUEST_SIZE_MB).
	MaxMessageMB int `yaml:"max_message_mb"`
	// MaxDepth is the deepest JSON nesting accepted. Default 64.
	MaxDepth int `yaml:"max_depth"`
	// MaxTokens is the most JSON tokens accepted in one message (member names and values). It bounds
	// the memory of reading a message, which grows with its tokens. Default 1,000,000.
	MaxTokens int `yaml:"max_tokens"`
}

// UpstreamConfig tunes stdio upstream supervision.
type UpstreamConfig struct {
	// Name is the upstream's name in audit records and in rules' servers globs. Default "upstream".
	Name string `yaml:"name"`
	// RequestTimeout is the longest a forwarded request may wait for its answer before the client is
	// told upstream_unavailable and the upstream is sent notifications/cancelled. Default 5m.
	RequestTimeout Duration `yaml:"request_timeout"`
	// HangAfter is how long the upstream may stay silent with requests in flight before gatehouse
	// pings it. Default 30s.
	HangAfter Duration `yaml:"hang_after"`
	// PingTimeout is how long that ping may go unanswered before the upstream is killed and
	// restarted. Default 10s.
	PingTimeout Duration `yaml:"ping_timeout"`
	// RestartBackoffMax caps the wait between restarts of a crashing upstream (it starts at 100ms and
	// doubles). Default 30s.
	RestartBackoffMax Duration `yaml:"restart_backoff_max"`
	// DrainTimeout is how long in-flight requests may finish after the client hangs up. Default 5s.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// EventLoop makes one thread, waiting in epoll_wait, read both the client's stdin and the
	// server's stdout (Linux). It answers a client that calls without pause sooner and with less CPU;
	// calls that each follow an idle spell it answers no sooner, with more CPU (BENCHMARKS.md).
	// Default false: a goroutine reads each.
	EventLoop bool `yaml:"event_loop"`
}

// LogConfig configures gatehouse's log.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "5m").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: must be a duration such as 30s or 5m", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 5m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// DefaultQuery is the Rego decision asked for unless policy.query says otherwise (SPEC §5.3).
const DefaultQuery = "data.gatehouse.decision"

// Default returns the built-in defaults.
func Default() *Config {
	every := 1000
	interval := Duration(time.Minute)
	return &Config{
		Mode: "enforce",
		Fail: "closed",
		Audit: AuditConfig{Path: "gatehouse-audit.jsonl", MaxSizeMB: 100,
			CheckpointEvery: &every, CheckpointInterval: &interval, Durability: "fsync",
			SyncDelay: Duration(10 * time.Millisecond)},
		Policy: PolicyConfig{Query: DefaultQuery, RegoTimeout: Duration(time.Second)},
		Limits: LimitsConfig{MaxMessageMB: 50, MaxDepth: 64, MaxTokens: 1_000_000},
		State: StateConfig{MaxKeys: state.DefaultMaxKeys, MaxKeysPerCaller: state.DefaultMaxKeysPerCaller,
			Redis: RedisConfig{Prefix: state.DefaultRedisPrefix, Timeout: Duration(state.DefaultRedisTimeout)}},
		Upstream: UpstreamConfig{
			Name:              "upstream",
			RequestTimeout:    Duration(5 * time.Minute),
			HangAfter:         Duration(30 * time.Second),
			PingTimeout:       Duration(10 * time.Second),
			RestartBackoffMax: Duration(30 * time.Second),
			DrainTimeout:      Duration(5 * time.Second),
		},
		Log: LogConfig{Level: "info", Format: "json"},
		// gatehouse run has no admin API to approve a quarantined tool, so its pins live as long as
		// the process; serve keeps them in a file.
		Pins:      PinsConfig{File: MemoryPins},
		Approvals: ApprovalsConfig{TTL: Duration(time.Hour), MaxPending: 1000, MaxPendingPerCaller: 20, Webhook: WebhookConfig{Timeout: Duration(5 * time.Second)}},
		Tracing: TracingConfig{Protocol: "http/protobuf", SampleRatio: 1, AcceptParent: true, Propagate: true,
			ServiceName: "gatehouse", Timeout: Duration(10 * time.Second)},
	}
}

// PackAgentTools are the names clients call the pack's agent tools by (policy.pack_agent_tools,
// SPEC §6.4): gatehouse.pack_policy and gatehouse.pack_evaluate, joined by serve's federation
// separator. Both "" when they are off.
func (c *Config) PackAgentTools() (policyTool, evaluateTool string) {
	if !c.Policy.PackAgentTools || c.Policy.Pack == "" {
		return "", ""
	}
	sep := cmp.Or(c.separator, ".")
	return AgentToolsUpstream + sep + AgentToolPolicy, AgentToolsUpstream + sep + AgentToolEvaluate
}
