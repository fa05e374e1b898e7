package config

import (
	"fmt"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validate checks every setting and reports every problem at once, located in the file when the
// setting came from one.
func (c *Config) Validate(src *Source) error {
	var ps []Problem
	if src != nil {
		ps = append(ps, src.decode...) // unknown keys, mistyped values
	}
	add := func(key, format string, args ...any) {
		file, line := src.at(key)
		ps = append(ps, Problem{File: file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
	}
	oneOf := func(key, val string, allowed ...string) {
		if !slices.Contains(allowed, val) {
			add(key, "must be one of %s (got %q)", strings.Join(allowed, ", "), val)
		}
	}
	oneOf("mode", c.Mode, "enforce", "monitor", "off")
	oneOf("fail", c.Fail, "closed", "open")
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("audit.durability", c.Audit.Durability, "fsync", "write")
	oneOf("log.format", c.Log.Format, "json", "text")
	if c.Audit.Path == "" {
		add("audit.path", "must name the audit file: gatehouse never runs without an audit log")
	}
	if c.Audit.MaxSizeMB < 0 {
		add("audit.max_size_mb", "must be 0 (never rotate) or more")
	}
	if c.Audit.CheckpointEvery != nil && *c.Audit.CheckpointEvery < 0 {
		add("audit.checkpoint_every", "must be 0 (off) or more")
	}
	if d := c.Audit.SyncDelay.D(); d < time.Millisecond || d > time.Second {
		add("audit.sync_delay", "must be between 1ms and 1s (got %s)", d)
	}
	if c.Audit.CheckpointInterval != nil && *c.Audit.CheckpointInterval < 0 {
		add("audit.checkpoint_interval", "must be 0 (off) or more")
	}
	if c.Limits.MaxMessageMB < 1 || c.Limits.MaxMessageMB > 1024 {
		add("limits.max_message_mb", "must be between 1 and 1024 (got %d)", c.Limits.MaxMessageMB)
	}
	if c.Limits.MaxDepth < 2 || c.Limits.MaxDepth > 1000 {
		add("limits.max_depth", "must be between 2 and 1000 (got %d)", c.Limits.MaxDepth)
	}
	if c.Limits.MaxTokens < 1000 || c.Limits.MaxTokens > 100_000_000 {
		add("limits.max_tokens", "must be between 1000 and 100000000 (got %d)", c.Limits.MaxTokens)
	}
	if c.State.MaxKeys < 1 || c.State.MaxKeys > 100_000_000 {
		add("state.max_keys", "must be between 1 and 100000000 (got %d)", c.State.MaxKeys)
	}
	if c.State.MaxKeysPerCaller < 1 || c.State.MaxKeysPerCaller > c.State.MaxKeys {
		add("state.max_keys_per_caller", "must be between 1 and state.max_keys (got %d)", c.State.MaxKeysPerCaller)
	}
	c.State.Redis.validate(add)
	c.Approvals.validate(add)
	c.validateSinks(add)
	c.Tracing.validate(add)
	if c.Approvals.Wait > 0 && c.State.Redis.URL == "" && !c.forServe {
		add("approvals.wait", "gatehouse run has no admin API, so with its state in memory nobody can approve a held call: share state.redis with a gatehouse serve whose admin API decides, or leave wait at 0")
	}
	if c.Upstream.Name == "" || strings.ContainsAny(c.Upstream.Name, " \t\n") {
		add("upstream.name", "must be a non-empty name without spaces")
	}
	for key, d := range map[string]Duration{
		"upstream.request_timeout": c.Upstream.RequestTimeout, "upstream.hang_after": c.Upstream.HangAfter,
		"upstream.ping_timeout": c.Upstream.PingTimeout, "upstream.restart_backoff_max": c.Upstream.RestartBackoffMax,
		"upstream.drain_timeout": c.Upstream.DrainTimeout,
	} {
		if d <= 0 {
			add(key, "must be a positive duration")
		}
	}
	for _, r := range c.Identity.Roles {
		if r == "" || strings.ContainsAny(r, ", \t") {
			add("identity.roles", "role %q must be a non-empty name without commas or spaces", r)
		}
	}
	c.validatePolicy(add)
	validateThreat(&c.Threat, &c.Pins, add)
	if c.Mode != "off" && c.Policy.Rules == "" && !c.regoConfigured() && c.Policy.Pack == "" {
		add("policy.rules", "no policy to enforce: give a rules file (--policy), a Rego bundle (--policy-bundle) or a policy pack (policy.pack), or run with mode off to relay and audit only")
	}
	if ps == nil {
		return nil
	}
	sortProblems(ps)
	return &Error{ps}
}

// sortProblems puts located problems in file order, then those that come from no line (defaults,
// env, flags).
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line - a.Line
		}
		return a.Line - b.Line
	})
}

// queryRE is a reference into data in dotted form, as policy.query must be.
var queryRE = regexp.MustCompile(`^data(\.[A-Za-z_][A-Za-z0-9_]*)+$`)

// sha256RE is a pinned digest: 64 hex digits, optionally prefixed sha256:.
var sha256RE = regexp.MustCompile(`^(sha256:)?[0-9a-fA-F]{64}$`)

// regoConfigured reports whether the Rego engine is on: a bundle is named, or policy.enabled is true.
func (c *Config) regoConfigured() bool {
	if c.Policy.Enabled != nil {
		return *c.Policy.Enabled
	}
	return c.Policy.Bundle != "" || c.Policy.BundleURL != ""
}

// validatePolicy checks the Rego and pack settings of the policy section.
func (c *Config) validatePolicy(add func(key, format string, args ...any)) {
	p := &c.Policy
	if !slices.Contains([]string{"", "enforce", "monitor", "off"}, p.PackMode) {
		add("policy.pack_mode", "must be one of enforce, monitor, off (got %q)", p.PackMode)
	}
	if p.PackSHA256 != "" && !sha256RE.MatchString(p.PackSHA256) {
		add("policy.pack_sha256", "must be 64 hex digits, optionally prefixed sha256:")
	}
	if p.Pack == "" && (p.PackSHA256 != "" || p.PackMode != "" || len(p.PackTools) > 0 || p.PackAgentTools) {
		add("policy.pack", "policy.pack_sha256, pack_mode, pack_tools and pack_agent_tools need a pack (policy.pack)")
	}
	if p.Pack != "" && p.PackAgentTools && (p.PackMode == "off" || p.PackMode == "" && c.Mode == "off") {
		add("policy.pack_agent_tools", "the pack's agent tools answer from the pack engine, which is off (policy.pack_mode or mode)")
	}
	if p.PackAgentTools && !c.forServe && c.Upstream.Name == AgentToolsUpstream {
		add("upstream.name", "%q is the server of gatehouse's own tools while policy.pack_agent_tools is on", AgentToolsUpstream)
	}
	accessModes := []string{"read", "write_branch", "write_ticket", "approval_required"}
	for i, t := range p.PackTools {
		key := fmt.Sprintf("policy.pack_tools[%d]", i)
		if t.Tool == "" || t.Namespace == "" {
			add(key, "needs a tool (a glob over tool names) and a namespace")
		}
		if !slices.Contains(accessModes, t.Access) {
			add(key+".access", "must be one of %s (got %q)", strings.Join(accessModes, ", "), t.Access)
		}
		for name, path := range map[string]string{"branch_name": t.Arguments.BranchName, "changed_paths": t.Arguments.ChangedPaths, "diff_line_count": t.Arguments.DiffLineCount} {
			if path != "" && slices.Contains(strings.Split(path, "."), "") {
				add(key+".arguments."+name, "%q is not a path: names and positions joined by single dots", path)
			}
		}
	}
	if !slices.Contains([]string{"", "enforce", "monitor", "off"}, p.RegoMode) {
		add("policy.rego_mode", "must be one of enforce, monitor, off (got %q)", p.RegoMode)
	}
	if p.Bundle != "" && p.BundleURL != "" {
		add("policy.bundle_url", "give one of policy.bundle (a path) and policy.bundle_url, not both")
	}
	if p.BundleURL != "" {
		if u, err := url.Parse(p.BundleURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("policy.bundle_url", "must be an http:// or https:// URL")
		}
	}
	if p.BundleSHA256 != "" && !sha256RE.MatchString(p.BundleSHA256) {
		add("policy.bundle_sha256", "must be 64 hex digits (the output of sha256sum)")
	}
	if p.PollSeconds != nil && (*p.PollSeconds < 0 || *p.PollSeconds > 86400) {
		add("policy.poll_seconds", "must be between 0 (never) and 86400 (got %d)", *p.PollSeconds)
	}
	if p.Query != "" && !queryRE.MatchString(p.Query) {
		add("policy.query", "must be a reference into data such as %s (got %q)", DefaultQuery, p.Query)
	}
	if e := p.RegoEvaluator; e != "" && e != "auto" && e != "topdown" {
		add("policy.rego_evaluator", "must be auto or topdown (got %q)", e)
	}
	if d := p.RegoTimeout.D(); d != 0 && (d < time.Millisecond || d > time.Minute) {
		add("policy.rego_timeout", "must be between 1ms and 1m (got %v)", d)
	}
}

func (a *ApprovalsConfig) validate(add func(key, format string, args ...any)) {
	if d := a.TTL.D(); d < time.Minute || d > 30*24*time.Hour {
		add("approvals.ttl", "must be between 1m and 720h (got %s)", d)
	}
	if d := a.Wait.D(); d < 0 || d > a.TTL.D() {
		add("approvals.wait", "must be between 0 (answer at once) and approvals.ttl (got %s)", d)
	}
	if a.MaxPending < 1 || a.MaxPending > 1_000_000 {
		add("approvals.max_pending", "must be between 1 and 1000000 (got %d)", a.MaxPending)
	}
	if a.MaxPendingPerCaller < 1 || a.MaxPendingPerCaller > a.MaxPending {
		add("approvals.max_pending_per_caller", "must be between 1 and approvals.max_pending (got %d)", a.MaxPendingPerCaller)
	}
	w := &a.Webhook
	if w.URL == "" {
		for key, v := range map[string]string{"approvals.webhook.secret_env": w.SecretEnv, "approvals.webhook.secret_file": w.SecretFile} {
			if v != "" {
				add(key, "is set but approvals.webhook.url is not")
			}
		}
		return
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		add("approvals.webhook.url", "must be an http:// or https:// URL with a host and no credentials in it (got %q)", w.URL)
	}
	if w.SecretEnv != "" && w.SecretFile != "" {
		add("approvals.webhook.secret_env", "give the secret one way: secret_env or secret_file")
	}
	if d := w.Timeout.D(); d < 100*time.Millisecond || d > time.Minute {
		add("approvals.webhook.timeout", "must be between 100ms and 1m (got %s)", d)
	}
}

// validateSinks checks audit.sinks (SPEC §12.5).
func (c *Config) validateSinks(add func(key, format string, args ...any)) {
	names := map[string]int{}
	for i := range c.Audit.Sinks {
		s := &c.Audit.Sinks[i]
		key := func(k string) string { return fmt.Sprintf("audit.sinks[%d].%s", i, k) }
		switch s.Type {
		case "stdout":
			if !c.forServe {
				add(key("type"), "gatehouse run's standard output is the MCP client's channel: use stderr")
			}
		case "stderr", "webhook":
		default:
			add(key("type"), "must be one of stdout, stderr, webhook (got %q)", s.Type)
		}
		if s.Name != "" && !validSinkName(s.Name) {
			add(key("name"), "must be 1 to 64 letters, digits, '-', '_' or '.' (got %q)", s.Name)
		}
		if first, dup := names[s.SinkName()]; dup {
			add(key("name"), "%q is also the name of audit.sinks[%d]: give each sink its own name", s.SinkName(), first)
		} else {
			names[s.SinkName()] = i
		}
		if s.Type != "webhook" {
			for k, v := range map[string]string{"url": s.URL, "secret_env": s.SecretEnv, "secret_file": s.SecretFile,
				"auth_header": s.AuthHeader, "auth_env": s.AuthEnv, "auth_file": s.AuthFile} {
				if v != "" {
					add(key(k), "is a setting of a webhook sink, not of %s", s.Type)
				}
			}
			if s.Timeout != 0 {
				add(key("timeout"), "is a setting of a webhook sink, not of %s", s.Type)
			}
		} else {
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
				add(key("url"), "must be an http:// or https:// URL with a host and no credentials in it")
			}
			if s.SecretEnv != "" && s.SecretFile != "" {
				add(key("secret_env"), "give the secret one way: secret_env or secret_file")
			}
			validateAuthHeader(key, s.AuthHeader, s.AuthEnv, s.AuthFile, add)
			if d := s.Timeout.D(); d != 0 && (d < 100*time.Millisecond || d > time.Minute) {
				add(key("timeout"), "must be between 100ms and 1m (got %s)", d)
			}
		}
		if s.BatchRecords < 0 || s.BatchRecords > 100_000 {
			add(key("batch_records"), "must be between 1 and 100000 (got %d)", s.BatchRecords)
		}
		if d := s.FlushInterval.D(); d != 0 && (d < 10*time.Millisecond || d > time.Minute) {
			add(key("flush_interval"), "must be between 10ms and 1m (got %s)", d)
		}
		if s.QueueMB < 0 || s.QueueMB > 1024 {
			add(key("queue_mb"), "must be between 1 and 1024 (got %d)", s.QueueMB)
		}
	}
}

// validateAuthHeader checks a credential header whose value comes from an environment variable or
// a file: key names the settings (key("auth_header") and so on).
func validateAuthHeader(key func(string) string, header, env, file string, add func(key, format string, args ...any)) {
	switch {
	case header == "" && env != "":
		add(key("auth_env"), "needs auth_header, the header it fills")
	case header == "" && file != "":
		add(key("auth_file"), "needs auth_header, the header it fills")
	case header != "" && (env == "") == (file == ""):
		add(key("auth_header"), "needs its value from exactly one of auth_env and auth_file")
	case header != "" && !validHeaderName(header):
		add(key("auth_header"), "%q is not a header name", header)
	case reservedHeader(header):
		add(key("auth_header"), "%s is set by gatehouse itself", header)
	}
}

// validate checks the tracing exporter's settings, whether or not tracing is enabled.
func (t *TracingConfig) validate(add func(key, format string, args ...any)) {
	key := func(k string) string { return "tracing." + k }
	if t.Protocol != "http/protobuf" && t.Protocol != "grpc" {
		add(key("protocol"), "must be one of http/protobuf, grpc (got %q)", t.Protocol)
	}
	if t.Endpoint == "" {
		if t.CAFile != "" {
			add(key("ca_file"), "is for an https endpoint, and tracing.endpoint is the default, http://127.0.0.1")
		}
	} else {
		u, err := url.Parse(t.Endpoint)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil:
			add(key("endpoint"), "must be an http:// or https:// URL with a host and no credentials in it")
		case u.RawQuery != "" || u.Fragment != "":
			add(key("endpoint"), "must not have a query or fragment")
		case t.Protocol == "grpc" && u.Path != "" && u.Path != "/":
			add(key("endpoint"), "a grpc endpoint has no path (got %q)", u.Path)
		case t.CAFile != "" && u.Scheme != "https":
			add(key("ca_file"), "is for an https endpoint, and tracing.endpoint is %s", u.Scheme)
		}
	}
	validateAuthHeader(key, t.AuthHeader, t.AuthEnv, t.AuthFile, add)
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		add(key("sample_ratio"), "must be between 0 and 1 (got %g)", t.SampleRatio)
	}
	if d := t.Timeout.D(); d < 100*time.Millisecond || d > time.Minute {
		add(key("timeout"), "must be between 100ms and 1m (got %s)", d)
	}
	if t.ServiceName == "" {
		add(key("service_name"), "must not be empty")
	}
}

func validSinkName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an HTTP header name (an RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// reservedHeader reports whether a header is one a delivery sets itself.
func reservedHeader(s string) bool {
	for _, h := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Host", "Transfer-Encoding",
		"Connection", "Keep-Alive", "Upgrade", "Expect", "Te", "Trailer", "Proxy-Connection",
		"Gatehouse-Event", "Gatehouse-Timestamp", "Gatehouse-Signature"} {
		if strings.EqualFold(s, h) {
			return true
		}
	}
	return false
}

func (r *RedisConfig) validate(add func(key, format string, args ...any)) {
	if r.URL == "" {
		for key, v := range map[string]string{"state.redis.username": r.Username,
			"state.redis.password_env": r.PasswordEnv, "state.redis.password_file": r.PasswordFile} {
			if v != "" {
				add(key, "is set but state.redis.url is not")
			}
		}
		return
	}
	if err := state.CheckRedisURL(r.URL); err != nil {
		add("state.redis.url", "%v", err)
	}
	if r.PasswordEnv != "" && r.PasswordFile != "" {
		add("state.redis.password_env", "give the password one way: password_env or password_file")
	}
	if r.Prefix == "" || len(r.Prefix) > 64 {
		add("state.redis.prefix", "must be 1 to 64 bytes (got %d)", len(r.Prefix))
	}
	if d := r.Timeout.D(); d < time.Millisecond || d > time.Minute {
		add("state.redis.timeout", "must be between 1ms and 1m (got %s)", d)
	}
}
