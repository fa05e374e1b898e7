package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-mcp/gatehouse/internal/auth"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
)

// ServeConfig is the configuration of `gatehouse serve` (SPEC §1.2, §13.1). The sections it shares
// with `gatehouse run` (mode, fail, policy, audit, limits, log) mean the same thing in both.
type ServeConfig struct {
	// Listen is the host:port of the MCP endpoint. Default 127.0.0.1:8080. A non-loopback address
	// needs authentication configured, or allow_unauthenticated set, to start.
	Listen string `yaml:"listen"`
	// Path is the MCP endpoint's path. Default /mcp.
	Path string `yaml:"path"`
	// TLS serves HTTPS (TLS 1.3 minimum) when cert and key are given.
	TLS TLSConfig `yaml:"tls"`
	// Mode, Fail, Policy, Audit, Limits and Log are as for gatehouse run (docs/configuration.md).
	Mode   string       `yaml:"mode"`
	Fail   string       `yaml:"fail"`
	Policy PolicyConfig `yaml:"policy"`
	Audit  AuditConfig  `yaml:"audit"`
	Limits LimitsConfig `yaml:"limits"`
	Log    LogConfig    `yaml:"log"`
	// HTTP tunes the Streamable HTTP endpoint.
	HTTP HTTPConfig `yaml:"http"`
	// Auth authenticates callers: bearer JWTs (OAuth 2.1 resource server), static API keys, or
	// anonymous. Absent: anonymous, allowed only on a loopback listener or with
	// allow_unauthenticated. Every key is in docs/authentication.md.
	Auth *auth.Config `yaml:"auth"`
	// AllowUnauthenticated accepts anonymous callers on a non-loopback listener. Never needed on
	// loopback, where anonymous callers are accepted by default.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// Admin is the separate listener for metrics and health.
	Admin AdminConfig `yaml:"admin"`
	// Upstreams are the MCP servers behind the gateway, federated into one server.
	Upstreams []UpstreamSpec `yaml:"upstreams"`

	// envRefs are the variables the file references as ${NAME}: credentials among them, so the
	// servers gatehouse starts do not inherit them (SecretEnv).
	envRefs []string
	// Federation tunes how several upstreams appear as one.
	Federation FederationConfig `yaml:"federation"`
	// Tenancy scopes every request to an engagement, with per-engagement tool allowlists.
	Tenancy TenancyConfig `yaml:"tenancy"`
	// Threat configures the threat scanner; Pins, the pinning of tool definitions.
	Threat ThreatConfig `yaml:"threat"`
	Pins   PinsConfig   `yaml:"pins"`
	// State bounds the state behind budgets and rate limits, as for gatehouse run.
	State StateConfig `yaml:"state"`
	// Approvals configures human approvals of held calls, as for gatehouse run.
	Approvals ApprovalsConfig `yaml:"approvals"`
	// Tracing exports OpenTelemetry spans of the calls gatehouse decides, as for gatehouse run.
	Tracing TracingConfig `yaml:"tracing"`
	// Enabled serves the MCP endpoint. false answers every MCP request with 503 while the admin
	// listener stays up (maintenance). Default true; the environment variable MCP_ENABLED overrides it.
	Enabled *bool `yaml:"enabled"`
	// RateLimits are the gateway's own limits, counted on every attempt (a rule's rate counts only
	// forwarded calls). A refused request gets reason rate_limited, HTTP 429 and Retry-After.
	RateLimits []RateLimitSpec `yaml:"rate_limits"`
	// Replicas lets a legacy session's requests land on any replica (SPEC §11.2).
	Replicas ReplicasConfig `yaml:"replicas"`
}

// ReplicasConfig routes legacy (Mcp-Session-Id) sessions between replicas: the replica that opens a
// session names itself in the session's id under an HMAC, and any other replica forwards the
// session's requests to it. Empty (no name): sessions live on the replica that opened them only.
type ReplicasConfig struct {
	// Name is this replica's name, a DNS label (a Kubernetes pod's name: ${POD_NAME}).
	Name string `yaml:"name"`
	// Peers are the replicas' base URLs (scheme://host:port) by name; this replica's own entry may
	// be there too, so that every replica can share one list.
	Peers map[string]string `yaml:"peers"`
	// KeyEnv and KeyFile give the key every replica shares (at least 32 bytes): the name of an
	// environment variable, or a file (relative to the configuration file) readable only by its owner.
	KeyEnv  string `yaml:"key_env"`
	KeyFile string `yaml:"key_file"`
	// CAFile adds a certificate authority to the system's for https peers.
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether sessions are routed between replicas.
func (r *ReplicasConfig) Enabled() bool { return r.Name != "" }

// PeerURLs returns the peers' parsed URLs by name.
func (r *ReplicasConfig) PeerURLs() (map[string]*url.URL, error) {
	out := make(map[string]*url.URL, len(r.Peers))
	for name, raw := range r.Peers {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("peer %s: %v", name, err)
		}
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, fmt.Errorf("peer %s: %q is not an http or https URL", name, raw)
		case u.Hostname() == "":
			return nil, fmt.Errorf("peer %s: %q names no host", name, raw)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
			return nil, fmt.Errorf("peer %s: %q must be scheme://host:port alone (no path, query or credentials): requests keep their own path", name, raw)
		}
		u.Path = ""
		out[name] = u
	}
	return out, nil
}

func (r *ReplicasConfig) validate(add func(key, format string, args ...any)) {
	if !r.Enabled() {
		for key, set := range map[string]bool{"replicas.peers": len(r.Peers) > 0, "replicas.key_env": r.KeyEnv != "",
			"replicas.key_file": r.KeyFile != "", "replicas.ca_file": r.CAFile != ""} {
			if set {
				add(key, "is set but replicas.name is not")
			}
		}
		return
	}
	if !streamable.ValidReplicaName(r.Name) {
		add("replicas.name", "%q is not a DNS label (lower-case letters, digits and '-', at most 63, not starting or ending with '-')", r.Name)
	}
	others := 0
	for name := range r.Peers {
		if !streamable.ValidReplicaName(name) {
			add("replicas.peers", "%q is not a DNS label", name)
		}
		if name != r.Name {
			others++
		}
	}
	if others == 0 {
		add("replicas.peers", "must name at least one replica other than this one (%s)", r.Name)
	}
	urls, err := r.PeerURLs()
	if err != nil {
		add("replicas.peers", "%v", err)
	}
	byURL := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(urls)) {
		u := urls[name].String()
		if other, ok := byURL[u]; ok {
			add("replicas.peers", "%s and %s have one URL, %s: each replica needs its own", other, name, u)
		}
		byURL[u] = name
	}
	if (r.KeyEnv == "") == (r.KeyFile == "") {
		add("replicas.key_env", "give the shared key one way: key_env or key_file")
	}
}

// TenancyConfig scopes requests to engagements, gatehouse's tenants (SPEC §8.1, §8.2).
type TenancyConfig struct {
	// Enabled turns tenancy on: every request must resolve to an engagement, and tools outside the
	// engagement's allowlist are refused (cross_tenant) and hidden. Default off.
	Enabled bool `yaml:"enabled"`
	// Sources are where an engagement may come from, any of token (the tenant claim of the caller's
	// JWT, or its API key's tenant), path (the URL /e/{engagement}/mcp) and header (set by a trusted
	// front proxy). When several are present they must agree. Default [token, path].
	Sources []string `yaml:"sources"`
	// Header is the trusted proxies' header. Default X-Gatehouse-Engagement.
	Header string `yaml:"header"`
	// TrustedProxies are the CIDRs whose header is believed; from any other peer the header is refused.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Default is the engagement of a request that names none. Empty: such requests are refused.
	Default string `yaml:"default"`
	// DefaultAllowlist is the allowlist of an engagement not listed under engagements. Unset: fs.read,
	// fs.write, fs.list, search.vector, search.semantic. Entries are tool names or globs (github.*).
	DefaultAllowlist []string `yaml:"default_allowlist"`
	// Engagements configures allowlists per engagement id. A list set through the admin API wins.
	Engagements map[string]EngagementSpec `yaml:"engagements"`
	// AllowlistFile is where allowlists changed through the admin API persist. Default
	// gatehouse-engagements.json, relative to the configuration file.
	AllowlistFile string `yaml:"allowlist_file"`
}

// EngagementSpec configures one engagement.
type EngagementSpec struct {
	// Allowlist is the tools the engagement may call: names or globs.
	Allowlist []string `yaml:"allowlist"`
}

// BuiltinFSConfig configures the built-in file tools fs.read, fs.write and fs.list (SPEC §8.3).
type BuiltinFSConfig struct {
	// DataRoot holds one directory per engagement, the jail of its file tools. Default
	// ./gatehouse-data; the environment variable MCP_DATA_ROOT overrides it.
	DataRoot string `yaml:"data_root"`
	// MaxFileMB is the largest file read or written, in MiB. Default 10; MCP_MAX_FILE_SIZE_MB
	// overrides it.
	MaxFileMB int `yaml:"max_file_mb"`
	// MinFreeMB is the free space, in MiB, fs.write leaves on the data root's disk: a write that
	// would leave less is refused, so that the tools cannot fill the disk the audit log is on.
	// Default 1024; 0 turns the check off.
	MinFreeMB *int `yaml:"min_free_mb"`
	// AllowMIME, when set, replaces the allowed media types (type/subtype, type/* or */*): to add
	// one (application/zip), list the defaults with it. Unset: SPEC §8.4's list. An empty list allows
	// nothing, so every read and write is refused.
	AllowMIME []string `yaml:"allow_mime"`
	// BlockMIME, when set, replaces the media types refused even when allowed. Unset: executables,
	// scripts, archives, video and audio. An empty list blocks nothing beyond AllowMIME.
	BlockMIME []string `yaml:"block_mime"`
}

// RateLimitSpec is one gateway rate limit.
type RateLimitSpec struct {
	// Scope is identity (per authenticated caller), tenant, tool (per tool or resource, across
	// callers) or identity_tool (per caller per tool).
	Scope string `yaml:"scope"`
	// Limit requests per Per are admitted, with bursts up to Limit.
	Limit int `yaml:"limit"`
	// Per is the period, e.g. 1m.
	Per Duration `yaml:"per"`
	// Tools restricts the limit to targets matching these globs (path.Match syntax); empty: all.
	Tools []string `yaml:"tools"`
}

// TLSConfig names a certificate and key (PEM files).
type TLSConfig struct {
	// Cert is the certificate chain file.
	Cert string `yaml:"cert"`
	// Key is the private key file.
	Key string `yaml:"key"`
}

// HTTPConfig tunes the Streamable HTTP endpoint.
type HTTPConfig struct {
	// AllowedOrigins are the browser Origins accepted (scheme://host[:port]). Empty: loopback
	// origins only. A request with any other Origin is refused with 403 (DNS rebinding).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts are the Host header values accepted. Empty: loopback names only on a loopback
	// listener, any host otherwise.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// RefusalStatus is mapped (default: 403 for policy_deny, 422 for validation_failed, 429 for
	// rate_limited, ...) or ok (every refusal is HTTP 200 with the JSON-RPC error in the body).
	RefusalStatus string `yaml:"refusal_status"`
	// DenyAs is error (default: a refused tools/call is a JSON-RPC error) or tool_error (a tool
	// result with isError true, so the model reads the reason).
	DenyAs string `yaml:"deny_as"`
	// SessionIdle ends a legacy session unused for this long. Default 30m.
	SessionIdle Duration `yaml:"session_idle"`
	// MaxSessions bounds live legacy sessions. Default 10000.
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerCaller bounds the live legacy sessions of one caller (principal id), so that one
	// caller cannot hold them all. Default 1000.
	MaxSessionsPerCaller int `yaml:"max_sessions_per_caller"`
	// ShutdownGrace is how long in-flight requests may finish at shutdown. Default 10s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// IdleTimeout closes a keep-alive connection that carries no request for this long. Default 2m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ReadTimeout bounds the reading of a request's body. Default 1m.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds each write of an answer or stream to a client. Default 1m.
	WriteTimeout Duration `yaml:"write_timeout"`
	// MaxConnections bounds open client connections; more wait to be accepted. Default 4096.
	MaxConnections int `yaml:"max_connections"`
	// MaxInFlight bounds the requests handled at once; one more gets 503. Default 1024.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxListens bounds the subscriptions/listen streams open at once; one more gets 503. Default 1024.
	MaxListens int `yaml:"max_listens"`
}

// AdminConfig is the admin listener: /metrics, /healthz, /readyz.
type AdminConfig struct {
	// Listen is its host:port; empty disables it. Default 127.0.0.1:9090.
	Listen string `yaml:"listen"`
	// TokenSHA256 is the SHA-256 (hex) of the bearer token the admin endpoints require, except
	// /healthz. Empty: no token, allowed only on a loopback admin listener.
	TokenSHA256 string `yaml:"token_sha256"`
	// AllowedOrigins are more browser Origins accepted (scheme://host[:port]): the admin web page's
	// origin when it is reached through a proxy under another name. Needs TokenSHA256.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// UpstreamSpec is one MCP server behind the gateway.
type UpstreamSpec struct {
	// Name identifies the upstream in audit records, logs and rules' servers globs.
	Name string `yaml:"name"`
	// Prefix namespaces its tools and prompts ("<prefix><separator><name>"). Default: the name.
	// An explicit "" mounts it unprefixed: names pass through unchanged (at most one upstream).
	Prefix *string `yaml:"prefix"`
	// URL is a Streamable HTTP server (either era). Exactly one of url, command and builtin is set.
	URL string `yaml:"url"`
	// Builtin serves tools from gatehouse itself: fs (the sandboxed file tools).
	Builtin string `yaml:"builtin"`
	// FS configures a builtin: fs upstream.
	FS BuiltinFSConfig `yaml:"fs"`
	// Headers are sent to an HTTP upstream on every request. The client's credentials are never
	// forwarded (SPEC §7.3). Values may reference ${ENV_VARS}.
	Headers map[string]string `yaml:"headers"`
	// Credentials authenticate gatehouse to an HTTP upstream: a static header, a header from an
	// environment variable, or an OAuth client credentials token (docs/authentication.md).
	Credentials *auth.UpstreamCredentialsConfig `yaml:"credentials"`
	// Command is a stdio server to run and supervise, shared by every client.
	Command []string `yaml:"command"`
	// Env is added to a stdio server's environment (NAME=value).
	Env []string `yaml:"env"`
	// RequestTimeout bounds one request to this upstream. Default 5m.
	RequestTimeout Duration `yaml:"request_timeout"`
}

// FederationConfig tunes federation.
type FederationConfig struct {
	// Separator joins a prefix and a name. Default ".".
	Separator string `yaml:"separator"`
}

// DefaultServe returns serve's defaults.
func DefaultServe() *ServeConfig {
	d := Default()
	return &ServeConfig{
		Listen: "127.0.0.1:8080", Path: "/mcp",
		Mode: d.Mode, Fail: d.Fail, Audit: d.Audit, Limits: d.Limits, Log: d.Log, State: d.State, Approvals: d.Approvals, Tracing: d.Tracing,
		HTTP: HTTPConfig{RefusalStatus: "mapped", DenyAs: "error", SessionIdle: Duration(30 * time.Minute),
			MaxSessions: 10000, MaxSessionsPerCaller: 1000, ShutdownGrace: Duration(10 * time.Second),
			IdleTimeout: Duration(2 * time.Minute), ReadTimeout: Duration(time.Minute), WriteTimeout: Duration(time.Minute),
			MaxConnections: 4096, MaxInFlight: 1024, MaxListens: 1024},
		Admin:      AdminConfig{Listen: "127.0.0.1:9090"},
		Federation: FederationConfig{Separator: "."},
		Tenancy: TenancyConfig{Sources: []string{string(tenancy.SourceToken), string(tenancy.SourcePath)},
			Header: tenancy.DefaultHeader, AllowlistFile: "gatehouse-engagements.json"},
		Pins: PinsConfig{File: "gatehouse-pins.json"},
	}
}

// EmbeddedName is how the embedded default is named in messages, in place of a file name.
const EmbeddedName = "(embedded default)"

// EmbeddedServe is the configuration of `gatehouse serve` with no --config (SPEC §1.3): a working,
// safe gateway on loopback. `gatehouse serve --print-config` prints it.
const EmbeddedServe = `# The embedded default of gatehouse serve (SPEC §1.3): what it runs with no --config.
# Print it with:  gatehouse serve --print-config > gatehouse.yaml
listen: 127.0.0.1:8080          # the MCP endpoint; GATEHOUSE_LISTEN overrides it
path: /mcp
mode: enforce
fail: closed
policy:
  bundle: builtin:starter       # the starter Rego policies (policies/), compiled in
  rego_mode: enforce
audit:
  path: gatehouse-audit.jsonl   # relative to the working directory
admin:
  listen: 127.0.0.1:9090        # /metrics /healthz /readyz and the admin API; GATEHOUSE_ADMIN_LISTEN
tenancy:
  enabled: true
  sources: [token, path]        # /e/<engagement>/mcp picks an engagement
  default: default              # requests that name none work in the engagement "default"
upstreams:
  - name: fs
    builtin: fs                 # fs.read, fs.write, fs.list, jailed per engagement
    fs:
      data_root: gatehouse-data # MCP_DATA_ROOT overrides it
`

// Defaults of the built-in file tools.
const (
	DefaultDataRoot  = "gatehouse-data"
	DefaultMaxFileMB = 10
)

// MCPEnabled reports whether the MCP endpoint is served.
func (c *ServeConfig) MCPEnabled() bool { return c.Enabled == nil || *c.Enabled }

// applyServeEnv applies the environment variables that only serve reads: GATEHOUSE_LISTEN,
// GATEHOUSE_ADMIN_LISTEN and the seed's MCP_ENABLED, MCP_DATA_ROOT and MCP_MAX_FILE_SIZE_MB (over the
// file).
func (c *ServeConfig) applyServeEnv(env map[string]string) error {
	if v := env["GATEHOUSE_LISTEN"]; v != "" {
		c.Listen = v
	}
	if v, ok := env["GATEHOUSE_ADMIN_LISTEN"]; ok {
		c.Admin.Listen = v // "" turns the admin listener off
	}
	if v := env["MCP_ENABLED"]; v != "" {
		on, err := parseBool(v)
		if err != nil {
			return &Error{[]Problem{{Key: "$MCP_ENABLED", Message: err.Error()}}}
		}
		c.Enabled = &on
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.Builtin == "" {
			continue
		}
		if v := env["MCP_DATA_ROOT"]; v != "" {
			u.FS.DataRoot = v
		}
		if v := env["MCP_MAX_FILE_SIZE_MB"]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return &Error{[]Problem{{Key: "$MCP_MAX_FILE_SIZE_MB", Message: fmt.Sprintf("must be a whole number of MiB, at least 1 (got %q)", v)}}}
			}
			u.FS.MaxFileMB = n
		}
	}
	return nil
}

// fillBuiltinDefaults gives builtin upstreams their defaults, before relative paths are resolved.
func (c *ServeConfig) fillBuiltinDefaults() {
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.Builtin == "" {
			continue
		}
		if u.FS.DataRoot == "" {
			u.FS.DataRoot = DefaultDataRoot
		}
		if u.FS.MaxFileMB == 0 {
			u.FS.MaxFileMB = DefaultMaxFileMB
		}
	}
}

// LoadServe reads serve's configuration file, strictly, with ${NAME} references in string values
// replaced from env (os.Environ() form). Environment overrides GATEHOUSE_LISTEN and the shared
// GATEHOUSE_* variables apply on top. Unknown keys and values of the wrong type do not stop it: they
// are reported by Validate, with every other problem, so a configuration is usable only once
// Validate passes. YAML that does not parse is an error here.
//
// An empty path loads the embedded default (EmbeddedServe), with relative paths relative to the
// working directory.
func LoadServe(path string, env []string) (*ServeConfig, *Source, error) {
	cfg := DefaultServe()
	name, data, dir := path, []byte(EmbeddedServe), "."
	if path == "" {
		name = EmbeddedName
	} else {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, nil, err
		}
		dir = filepath.Dir(path)
	}
	src, err := decodeServe(name, data, cfg)
	if err != nil {
		return nil, src, err
	}
	if ps := expandEnv(reflect.ValueOf(cfg).Elem(), "", envMap(env), src); ps != nil {
		return nil, src, &Error{ps}
	}
	for _, m := range envRef.FindAllStringSubmatch(string(data), -1) {
		if !slices.Contains(cfg.envRefs, m[1]) {
			cfg.envRefs = append(cfg.envRefs, m[1])
		}
	}
	cfg.fillBuiltinDefaults()
	shared := cfg.Shared()
	shared.resolvePaths(dir)
	cfg.setShared(shared)
	paths := []*string{&cfg.TLS.Cert, &cfg.TLS.Key, &cfg.Tenancy.AllowlistFile, &cfg.Replicas.KeyFile, &cfg.Replicas.CAFile}
	for i := range cfg.Upstreams {
		paths = append(paths, &cfg.Upstreams[i].FS.DataRoot)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if cfg.Auth != nil {
		cfg.Auth.ResolvePaths(dir)
	}
	for i := range cfg.Upstreams {
		if c := cfg.Upstreams[i].Credentials; c != nil {
			c.ResolvePaths(dir)
		}
	}
	shared = cfg.Shared()
	if err := shared.applySeeds(env, src); err != nil {
		return nil, src, err
	}
	if err := shared.applyEnvFrom(env, src); err != nil {
		return nil, src, err
	}
	cfg.setShared(shared)
	if err := cfg.applyServeEnv(envMap(env)); err != nil {
		return nil, src, err
	}
	return cfg, src, nil
}

func decodeServe(path string, data []byte, cfg *ServeConfig) (*Source, error) {
	src := &Source{file: path, lines: map[string]int{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return src, &Error{[]Problem{{File: path, Line: yamlErrLine(err), Message: cleanYAMLError(err)}}}
	}
	if len(root.Content) > 0 {
		index(root.Content[0], "", src.lines)
	}
	var err error
	src.decode, err = strictDecode(path, data, cfg) // unknown keys: reported by Validate
	return src, err
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every string reachable from v. An unset variable is a located
// problem: silently connecting to "http:///mcp" because UPSTREAM_URL was not exported is worse than
// refusing to start.
func expandEnv(v reflect.Value, path string, env map[string]string, src *Source) []Problem {
	var ps []Problem
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			ps = append(ps, expandEnv(v.Elem(), path, env, src)...)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			ps = append(ps, expandEnv(v.Field(i), p, env, src)...)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			ps = append(ps, expandEnv(v.Index(i), fmt.Sprintf("%s[%d]", path, i), env, src)...)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			val := v.MapIndex(k)
			if val.Kind() == reflect.String {
				s, missing := expandString(val.String(), env)
				key := path + "." + fmt.Sprint(k.Interface())
				for _, m := range missing {
					file, line := src.at(key)
					ps = append(ps, Problem{File: file, Line: line, Key: key, Message: "environment variable " + m + " is not set"})
				}
				v.SetMapIndex(k, reflect.ValueOf(s))
			}
		}
	case reflect.String:
		s, missing := expandString(v.String(), env)
		for _, m := range missing {
			file, line := src.at(path)
			ps = append(ps, Problem{File: file, Line: line, Key: path, Message: "environment variable " + m + " is not set"})
		}
		if v.CanSet() {
			v.SetString(s)
		}
	}
	return ps
}

func expandString(s string, env map[string]string) (string, []string) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		val, ok := env[name]
		if !ok {
			missing = append(missing, name)
		}
		return val
	})
	return out, missing
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Shared returns the sections serve shares with run (mode, fail, policy, audit, limits, log, threat,
// pins, state, approvals) as a run Config, so that both are resolved, validated and started by the same code.
func (c *ServeConfig) Shared() *Config {
	d := Default()
	return &Config{Mode: c.Mode, Fail: c.Fail, Policy: c.Policy, Audit: c.Audit, Limits: c.Limits, Log: c.Log,
		Threat: c.Threat, Pins: c.Pins, State: c.State, Approvals: c.Approvals, Tracing: c.Tracing, Upstream: d.Upstream, forServe: true,
		separator: c.Federation.Separator}
}

func (c *ServeConfig) setShared(s *Config) {
	c.Mode, c.Fail, c.Policy, c.Audit, c.Limits, c.Log, c.Threat, c.Pins, c.State = s.Mode, s.Fail, s.Policy, s.Audit, s.Limits, s.Log, s.Threat, s.Pins, s.State
	c.Approvals, c.Tracing = s.Approvals, s.Tracing
}

// Validate checks serve's configuration and reports every problem at once, located.
func (c *ServeConfig) Validate(src *Source) error {
	shared := c.Shared()
	var ps []Problem
	var ce *Error
	if err := shared.Validate(src); errors.As(err, &ce) {
		ps = append(ps, ce.Problems...)
	}
	add := func(key, format string, args ...any) {
		file, line := src.at(key)
		ps = append(ps, Problem{File: file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
	}
	anonymous := c.Auth == nil || (c.Auth.Anonymous != nil && c.Auth.JWT == nil && c.Auth.APIKeys == nil)
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "must be host:port (got %q)", c.Listen)
	} else if !loopback(c.Listen) && anonymous && !c.AllowUnauthenticated {
		add("listen", "%s is not a loopback address: configure auth (jwt or api_keys), or set allow_unauthenticated: true to accept anonymous callers on purpose", c.Listen)
	}
	if c.Auth != nil {
		for _, err := range c.Auth.Validate() {
			var fe *auth.FieldError
			if errors.As(err, &fe) {
				add("auth."+fe.Key, "%s", fe.Message)
			} else {
				add("auth", "%v", err)
			}
		}
	}
	if !strings.HasPrefix(c.Path, "/") {
		add("path", "must start with / (got %q)", c.Path)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		add("tls", "needs both cert and key")
	}
	if !slices.Contains([]string{"mapped", "ok"}, c.HTTP.RefusalStatus) {
		add("http.refusal_status", "must be mapped or ok (got %q)", c.HTTP.RefusalStatus)
	}
	if !slices.Contains([]string{"error", "tool_error"}, c.HTTP.DenyAs) {
		add("http.deny_as", "must be error or tool_error (got %q)", c.HTTP.DenyAs)
	}
	for key, d := range map[string]Duration{"http.session_idle": c.HTTP.SessionIdle, "http.shutdown_grace": c.HTTP.ShutdownGrace,
		"http.idle_timeout": c.HTTP.IdleTimeout, "http.read_timeout": c.HTTP.ReadTimeout, "http.write_timeout": c.HTTP.WriteTimeout} {
		if d <= 0 {
			add(key, "must be more than 0 (got %s)", d.D())
		}
	}
	for key, n := range map[string]int{"http.max_sessions": c.HTTP.MaxSessions, "http.max_sessions_per_caller": c.HTTP.MaxSessionsPerCaller, "http.max_connections": c.HTTP.MaxConnections, "http.max_in_flight": c.HTTP.MaxInFlight,
		"http.max_listens": c.HTTP.MaxListens} {
		if n < 1 {
			add(key, "must be at least 1 (got %d)", n)
		}
	}
	for _, o := range c.HTTP.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			add("http.allowed_origins", "%q is not an origin (scheme://host[:port])", o)
		}
	}
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			add("admin.listen", "must be host:port (got %q)", c.Admin.Listen)
		} else if c.Admin.TokenSHA256 == "" && !loopback(c.Admin.Listen) {
			add("admin.token_sha256", "the admin listener %s is not loopback: it needs a token", c.Admin.Listen)
		}
		if c.Admin.Listen == c.Listen {
			add("admin.listen", "must differ from listen: the admin endpoints are never served to MCP clients")
		}
	}
	for _, o := range c.Admin.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			add("admin.allowed_origins", "%q is not an origin (scheme://host[:port])", o)
		}
	}
	if len(c.Admin.AllowedOrigins) > 0 && c.Admin.TokenSHA256 == "" {
		add("admin.allowed_origins", "needs admin.token_sha256: without a token, a page of another origin could use the admin API")
	}
	if t := c.Admin.TokenSHA256; t != "" && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(t) {
		add("admin.token_sha256", "must be 64 lowercase hex characters (printf %%s \"$TOKEN\" | sha256sum)")
	}
	if len(c.Upstreams) == 0 {
		add("upstreams", "at least one upstream is needed")
	}
	names := map[string]bool{}
	unprefixed := ""
	for i, u := range c.Upstreams {
		key := fmt.Sprintf("upstreams[%d]", i)
		if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(u.Name) {
			add(key, "name %q must be letters, digits, - or _", u.Name)
		}
		if names[u.Name] {
			add(key, "name %q is used twice", u.Name)
		}
		names[u.Name] = true
		kinds := 0
		for _, set := range []bool{u.URL != "", len(u.Command) > 0, u.Builtin != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			add(key, "(%s): set exactly one of url, command and builtin", u.Name)
		}
		switch {
		case u.Builtin != "" && u.Builtin != "fs":
			add(key, "(%s): builtin must be fs (got %q)", u.Name, u.Builtin)
		case u.Builtin == "fs" && !c.Tenancy.Enabled:
			add(key, "(%s): the built-in file tools jail files per engagement: set tenancy.enabled: true", u.Name)
		case u.Builtin == "fs" && (u.FS.MaxFileMB < 1 || u.FS.MaxFileMB > 1024):
			add(key, "(%s): fs.max_file_mb must be 1-1024 (got %d)", u.Name, u.FS.MaxFileMB)
		case u.Builtin == "fs" && u.FS.MinFreeMB != nil && (*u.FS.MinFreeMB < 0 || *u.FS.MinFreeMB > 1<<20):
			add(key, "(%s): fs.min_free_mb must be 0-1048576 (got %d)", u.Name, *u.FS.MinFreeMB)
		case u.Builtin == "" && !reflect.ValueOf(u.FS).IsZero():
			add(key, "(%s): fs applies to builtin: fs upstreams only", u.Name)
		}
		if u.URL != "" {
			if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				add(key, "(%s): url %q is not an http(s) URL", u.Name, u.URL)
			}
		}
		if u.Prefix != nil && *u.Prefix == "" {
			if unprefixed != "" {
				add(key, "(%s): only one upstream may be unprefixed (%s already is)", u.Name, unprefixed)
			}
			unprefixed = u.Name
		}
		if u.Credentials != nil {
			if u.URL == "" {
				add(key, "(%s): credentials apply to HTTP upstreams only", u.Name)
			}
			for _, err := range u.Credentials.Validate() {
				add(key, "(%s): credentials: %v", u.Name, err)
			}
		}
		if u.Prefix != nil && strings.Contains(*u.Prefix, c.Federation.Separator) {
			add(key, "(%s): prefix %q must not contain the separator %q", u.Name, *u.Prefix, c.Federation.Separator)
		}
		if c.shadowsAgentTools(&u) {
			add(key, "(%s): the name %q, and prefixes that spell the names of its tools, are gatehouse's own while policy.pack_agent_tools is on", u.Name, AgentToolsUpstream)
		}
	}
	for i, r := range c.RateLimits {
		key := fmt.Sprintf("rate_limits[%d]", i)
		if !slices.Contains([]string{"identity", "tenant", "tool", "identity_tool"}, r.Scope) {
			add(key, "scope must be identity, tenant, tool or identity_tool (got %q)", r.Scope)
		}
		if r.Limit < 1 || r.Per <= 0 {
			add(key, "limit must be at least 1 and per a positive duration")
		} else if r.Per.D()/time.Duration(r.Limit) < time.Microsecond {
			add(key, "%d per %s is more than one call per microsecond (at most 1000000 per second)", r.Limit, r.Per.D())
		}
		for _, g := range r.Tools {
			if _, err := path.Match(g, ""); err != nil {
				add(key, "bad glob %q: %v", g, err)
			}
		}
	}
	if c.Federation.Separator == "" {
		add("federation.separator", "must not be empty")
	}
	c.validateTenancy(add)
	c.Replicas.validate(add)
	if ps == nil {
		return nil
	}
	sortProblems(ps)
	return &Error{ps}
}

// AgentToolsUpstream is the name and prefix of the upstream gatehouse serve adds for the pack's
// agent tools (policy.pack_agent_tools): they are gatehouse.pack_policy and gatehouse.pack_evaluate
// with the default separator.
const AgentToolsUpstream = "gatehouse"

// The names of the pack's agent tools in the AgentToolsUpstream.
const (
	AgentToolPolicy   = "pack_policy"
	AgentToolEvaluate = "pack_evaluate"
)

// shadowsAgentTools reports whether an upstream takes the place of gatehouse's own upstream of the
// pack's agent tools: its name, or a prefix under which one of its tools would be called by an
// agent tool's name.
func (c *ServeConfig) shadowsAgentTools(u *UpstreamSpec) bool {
	policyTool, evaluateTool := c.Shared().PackAgentTools()
	if policyTool == "" {
		return false
	}
	p := u.PrefixOf() + c.Federation.Separator
	return u.Name == AgentToolsUpstream || u.PrefixOf() != "" && (strings.HasPrefix(policyTool, p) || strings.HasPrefix(evaluateTool, p))
}

// PrefixOf returns an upstream's namespace prefix: the configured one, else "fs" for the built-in
// file tools (so they are fs.read, fs.write, fs.list whatever the upstream is named), else the name.
func (u *UpstreamSpec) PrefixOf() string {
	switch {
	case u.Prefix != nil:
		return *u.Prefix
	case u.Builtin == "fs":
		return "fs"
	}
	return u.Name
}

func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsServeFile reports whether a configuration file is for `gatehouse serve` rather than `gatehouse
// run`: it has serve's own top-level keys (upstreams, listen). `gatehouse check --config` uses it
// to validate a file with the right schema.
func IsServeFile(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil {
		return false
	}
	_, upstreams := top["upstreams"]
	_, listen := top["listen"]
	return upstreams || listen
}

// validateTenancy checks the tenancy section.
func (c *ServeConfig) validateTenancy(add func(key, format string, args ...any)) {
	t := &c.Tenancy
	if !t.Enabled {
		return
	}
	if len(t.Sources) == 0 && t.Default == "" {
		add("tenancy.sources", "no source and no default: every request would be refused")
	}
	for _, s := range t.Sources {
		if !slices.Contains([]string{"token", "path", "header"}, s) {
			add("tenancy.sources", "%q is not a source: token, path or header", s)
		}
	}
	if slices.Contains(t.Sources, "header") && len(t.TrustedProxies) == 0 {
		add("tenancy.trusted_proxies", "the header source needs the addresses of the trusted proxies that set it")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9-]+$`).MatchString(t.Header) {
		add("tenancy.header", "%q is not a header name", t.Header)
	}
	for _, p := range t.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			add("tenancy.trusted_proxies", "%q: %v", p, err)
		}
	}
	if t.Default != "" {
		if err := tenancy.ValidID(t.Default); err != nil {
			add("tenancy.default", "%v", err)
		}
	}
	if t.DefaultAllowlist != nil {
		if err := tenancy.ValidTools(t.DefaultAllowlist); err != nil {
			add("tenancy.default_allowlist", "%v", err)
		}
	}
	for id, e := range t.Engagements {
		key := "tenancy.engagements." + id
		if err := tenancy.ValidID(id); err != nil {
			add(key, "%v", err)
		}
		if err := tenancy.ValidTools(e.Allowlist); err != nil {
			add(key+".allowlist", "%v", err)
		}
	}
	if t.AllowlistFile == "" {
		add("tenancy.allowlist_file", "must name a file: admin changes to allowlists must persist")
	}
}

// parsePrefix reads a CIDR, or a single address as a /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Resolver returns the tenancy resolver the section describes, nil when tenancy is off.
func (t *TenancyConfig) Resolver() *tenancy.Resolver {
	if !t.Enabled {
		return nil
	}
	rv := &tenancy.Resolver{Header: t.Header, Default: t.Default}
	for _, s := range t.Sources {
		rv.Sources = append(rv.Sources, tenancy.Source(s))
	}
	for _, p := range t.TrustedProxies {
		if pr, err := parsePrefix(p); err == nil {
			rv.TrustedProxies = append(rv.TrustedProxies, pr.Masked())
		}
	}
	return rv
}

// Allowlists returns the configured allowlists per engagement.
func (t *TenancyConfig) Allowlists() map[string][]string {
	out := make(map[string][]string, len(t.Engagements))
	for id, e := range t.Engagements {
		out[id] = e.Allowlist
	}
	return out
}

// SecretEnv returns the names of the environment variables the configuration reads secrets from
// (HMAC token keys, upstream credentials) or references as ${NAME} (a header value, a URL with a
// key in it). The servers gatehouse starts do not inherit them.
func (c *ServeConfig) SecretEnv() []string {
	names := slices.Clone(c.envRefs)
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	add(c.State.Redis.PasswordEnv)
	add(c.Approvals.Webhook.SecretEnv)
	add(c.Replicas.KeyEnv)
	for _, n := range append(c.Audit.SecretEnv(), c.Tracing.SecretEnv()...) {
		add(n)
	}
	if c.Auth != nil && c.Auth.JWT != nil {
		for _, k := range c.Auth.JWT.HMACKeys {
			add(k.SecretEnv)
		}
	}
	for _, u := range c.Upstreams {
		if cr := u.Credentials; cr != nil {
			add(cr.Env)
			if cr.ClientCredentials != nil {
				add(cr.ClientCredentials.ClientSecretEnv)
			}
		}
	}
	return names
}
