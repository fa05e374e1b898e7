package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// validated loads the configuration file p with the environment env and returns it and the
// problems its validation reports, one per line; it fails the test when there are none.
func validated(t *testing.T, p string, env ...string) (*Config, string) {
	t.Helper()
	cfg, src, err := Load(p, env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg, strings.Join(problems(t, cfg.Validate(src)), "\n")
}

// hasProblems fails the test for each of want that no problem in got says.
func hasProblems(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestLoadValidFile(t *testing.T) {
	p := write(t, `
mode: monitor
fail: open
policy:
  rules: rules.yaml
audit:
  path: /var/log/gatehouse/audit.jsonl
  checkpoint_every: 0
identity:
  agent: bot
  roles: [dev, ops]
upstream:
  request_timeout: 90s
`)
	cfg, src, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(src); err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != "monitor" || cfg.Fail != "open" || cfg.Identity.Agent != "bot" || len(cfg.Identity.Roles) != 2 {
		t.Errorf("cfg = %+v", cfg)
	}
	if want := filepath.Join(filepath.Dir(p), "rules.yaml"); cfg.Policy.Rules != want {
		t.Errorf("relative policy path = %q, want %q (relative to the config file)", cfg.Policy.Rules, want)
	}
	if cfg.Audit.Path != "/var/log/gatehouse/audit.jsonl" {
		t.Errorf("absolute audit path changed: %q", cfg.Audit.Path)
	}
	if *cfg.Audit.CheckpointEvery != 0 || cfg.Upstream.RequestTimeout.D() != 90*time.Second || cfg.Upstream.HangAfter.D() != 30*time.Second {
		t.Errorf("explicit zero or defaults lost: every=%d timeout=%v hang=%v", *cfg.Audit.CheckpointEvery, cfg.Upstream.RequestTimeout.D(), cfg.Upstream.HangAfter.D())
	}
}

// Unknown keys are located problems, reported by Validate together with every other problem.
func TestUnknownKeysAreLocatedErrors(t *testing.T) {
	p := write(t, "mode: enforce\npolicy:\n  rules: r.yaml\naudti:\n  path: x\nlimits:\n  max_depht: 3\nfail: maybe\n")
	_, got := validated(t, p)
	hasProblems(t, got, p+":4: field audti not found", p+":7: field max_depht not found", p+":8: fail: must be one of")
}

func TestValidationReportsEverythingLocated(t *testing.T) {
	p := write(t, "mode: enfroce\nfail: maybe\nlimits:\n  max_message_mb: 0\n  max_tokens: 10\nupstream:\n  ping_timeout: 0s\naudit:\n  sync_delay: 2s\n")
	cfg, src, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := problems(t, cfg.Validate(src))
	want := []string{
		p + `:1: mode: must be one of enforce, monitor, off (got "enfroce")`,
		p + `:2: fail: must be one of closed, open (got "maybe")`,
		p + `:4: limits.max_message_mb: must be between 1 and 1024 (got 0)`,
		p + `:5: limits.max_tokens: must be between 1000 and 100000000 (got 10)`,
		p + `:7: upstream.ping_timeout: must be a positive duration`,
		p + `:9: audit.sync_delay: must be between 1ms and 1s (got 2s)`,
		`policy.rules: no policy to enforce`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestBadDurationAndSyntax(t *testing.T) {
	if _, _, err := Load(write(t, "upstream:\n  hang_after: soon\n"), nil); err == nil || !strings.Contains(err.Error(), `"soon" is not a duration`) {
		t.Errorf("bad duration: %v", err)
	}
	if _, _, err := Load(write(t, "mode: [enforce\n"), nil); err == nil || !strings.Contains(err.Error(), ".yaml:") {
		t.Errorf("syntax error not located: %v", err)
	}
}

func TestEnvOverridesFileAndIsValidated(t *testing.T) {
	p := write(t, "mode: enforce\npolicy:\n  rules: a.yaml\n")
	cfg, _, err := Load(p, []string{"GATEHOUSE_MODE=monitor", "GATEHOUSE_ROLES=a, b,,c", "GATEHOUSE_POLICY=/etc/p.yaml", "MCP_MAX_REQUEST_SIZE_MB=7", "UNRELATED=x"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != "monitor" || strings.Join(cfg.Identity.Roles, ",") != "a,b,c" || cfg.Policy.Rules != "/etc/p.yaml" || cfg.Limits.MaxMessageMB != 7 {
		t.Errorf("env not applied: %+v", cfg)
	}
	if _, _, err := Load("", []string{"MCP_MAX_REQUEST_SIZE_MB=lots"}); err == nil || !strings.Contains(err.Error(), "$MCP_MAX_REQUEST_SIZE_MB") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestDefaultsNeedOnlyAPolicy(t *testing.T) {
	cfg := Default()
	cfg.Policy.Rules = "p.yaml"
	if err := cfg.Validate(nil); err != nil {
		t.Errorf("defaults with a policy do not validate: %v", err)
	}
	cfg.Policy.Rules, cfg.Mode = "", "off"
	if err := cfg.Validate(nil); err != nil {
		t.Errorf("mode off without a policy should be valid: %v", err)
	}
}

// TestConfigDocCoversEveryKey keeps docs/configuration.md in step with the schema and EnvVars.
func TestConfigDocCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)) {
				walk(prefix+name+".", ft)
				continue
			}
			keys = append(keys, prefix+name)
		}
	}
	walk("", reflect.TypeOf(Config{}))
	for _, k := range keys {
		if !strings.Contains(string(doc), "| `"+k+"` |") {
			t.Errorf("docs/configuration.md does not document %s", k)
		}
	}
	for _, v := range EnvVars() {
		if !strings.Contains(string(doc), "`"+v+"`") {
			t.Errorf("docs/configuration.md does not document $%s", v)
		}
	}
}

func TestExampleConfigChecks(t *testing.T) {
	cfg, src, err := Load("../../examples/gatehouse.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Policy.Rules); err != nil {
		t.Errorf("the example's policy path does not resolve: %v", err)
	}
}

func TestRedisSettingsValidated(t *testing.T) {
	p := write(t, "policy:\n  rules: a.yaml\nstate:\n  redis:\n    url: redis://u:pw-in-url@10.0.0.5:6379/0\n"+
		"    password_env: PW\n    password_file: pw.txt\n    prefix: \"\"\n    timeout: 0s\n")
	cfg, got := validated(t, p)
	hasProblems(t, got,
		p+":5: state.redis.url: must not hold a password",
		p+":6: state.redis.password_env: give the password one way",
		p+":8: state.redis.prefix: must be 1 to 64 bytes",
		p+":9: state.redis.timeout: must be between 1ms and 1m",
	)
	if strings.Contains(got, "pw-in-url") {
		t.Errorf("a problem repeats the password:\n%s", got)
	}
	if cfg.State.Redis.PasswordFile != filepath.Join(filepath.Dir(p), "pw.txt") {
		t.Errorf("password_file %q is not relative to the configuration file", cfg.State.Redis.PasswordFile)
	}

	p = write(t, "policy:\n  rules: a.yaml\nstate:\n  redis:\n    username: gw\n")
	cfg, src, _ := Load(p, []string{"GATEHOUSE_STATE_REDIS_URL=unix:///run/redis.sock"})
	if err := cfg.Validate(src); err != nil || cfg.State.Redis.URL != "unix:///run/redis.sock" {
		t.Errorf("GATEHOUSE_STATE_REDIS_URL: %v %q", err, cfg.State.Redis.URL)
	}
	_, got = validated(t, p)
	hasProblems(t, got, "state.redis.username: is set but state.redis.url is not")
}

// Every mistake in audit.sinks is reported at its line, together; stdout is refused to
// gatehouse run, whose standard output is the client's.
func TestAuditSinksValidated(t *testing.T) {
	p := write(t, `policy:
  rules: a.yaml
audit:
  sinks:
    - type: stdout
    - type: splunk
    - type: webhook
      url: https://user:pw@siem.example/in
      secret_env: S
      secret_file: s.txt
      auth_env: TOKEN
    - type: webhook
      name: siem
      url: ftp://siem.example/
      auth_header: "Bad Header"
      auth_file: tok.txt
      timeout: 5m
      batch_records: -1
      flush_interval: 1ms
      queue_mb: 2048
    - type: stderr
      name: siem
      url: https://x.example/
      timeout: 1s
    - type: webhook
      name: ok
      url: https://siem.example/in
      auth_header: Content-Type
      auth_env: TOKEN
    - type: webhook
      name: both
      url: https://siem.example/in
      auth_header: Authorization
      auth_env: TOKEN
      auth_file: tok.txt
`)
	cfg, got := validated(t, p)
	hasProblems(t, got,
		p+":5: audit.sinks[0].type: gatehouse run's standard output is the MCP client's channel: use stderr",
		p+":6: audit.sinks[1].type: must be one of stdout, stderr, webhook",
		p+":8: audit.sinks[2].url: must be an http:// or https:// URL with a host and no credentials in it",
		p+":9: audit.sinks[2].secret_env: give the secret one way",
		p+":11: audit.sinks[2].auth_env: needs auth_header, the header it fills",
		p+":14: audit.sinks[3].url: must be an http:// or https:// URL",
		p+`:15: audit.sinks[3].auth_header: "Bad Header" is not a header name`,
		p+":17: audit.sinks[3].timeout: must be between 100ms and 1m",
		p+":18: audit.sinks[3].batch_records: must be between 1 and 100000",
		p+":19: audit.sinks[3].flush_interval: must be between 10ms and 1m",
		p+":20: audit.sinks[3].queue_mb: must be between 1 and 1024",
		p+`:22: audit.sinks[4].name: "siem" is also the name of audit.sinks[3]`,
		p+":23: audit.sinks[4].url: is a setting of a webhook sink, not of stderr",
		p+":24: audit.sinks[4].timeout: is a setting of a webhook sink, not of stderr",
		p+":28: audit.sinks[5].auth_header: Content-Type is set by gatehouse itself",
		p+":33: audit.sinks[6].auth_header: needs its value from exactly one of auth_env and auth_file",
	)
	if strings.Contains(got, "pw@") {
		t.Errorf("a problem repeats the URL's password:\n%s", got)
	}
	if s := cfg.Audit.Sinks[3]; s.AuthFile != filepath.Join(filepath.Dir(p), "tok.txt") {
		t.Errorf("auth_file %q is not relative to the configuration file", s.AuthFile)
	}
	if got, want := cfg.Audit.SecretEnv(), []string{"S", "TOKEN", "TOKEN", "TOKEN"}; !slices.Equal(got, want) {
		t.Errorf("SecretEnv %q, want %q", got, want)
	}
}

func TestTracingValidated(t *testing.T) {
	p := write(t, `policy:
  rules: a.yaml
tracing:
  enabled: true
  endpoint: https://user:pw@collector.example:4317/v1/traces
  protocol: thrift
  auth_env: OTLP_TOKEN
  sample_ratio: 1.5
  timeout: 5m
  service_name: ""
`)
	cfg, got := validated(t, p)
	hasProblems(t, got,
		p+":5: tracing.endpoint: must be an http:// or https:// URL with a host and no credentials in it",
		p+":6: tracing.protocol: must be one of http/protobuf, grpc",
		p+":7: tracing.auth_env: needs auth_header, the header it fills",
		p+":8: tracing.sample_ratio: must be between 0 and 1",
		p+":9: tracing.timeout: must be between 100ms and 1m",
		p+":10: tracing.service_name: must not be empty",
	)
	if strings.Contains(got, "pw@") {
		t.Errorf("a problem repeats the endpoint's password:\n%s", got)
	}
	for _, tc := range []struct{ yaml, want string }{
		{`tracing: {protocol: grpc, endpoint: "http://127.0.0.1:4317/v1/traces"}`, "tracing.endpoint: a grpc endpoint has no path"},
		{`tracing: {endpoint: "http://collector:4318?token=x"}`, "tracing.endpoint: must not have a query or fragment"},
		{`tracing: {endpoint: "http://collector:4318", ca_file: ca.pem}`, "tracing.ca_file: is for an https endpoint"},
		{"tracing: {ca_file: ca.pem}", "tracing.ca_file: is for an https endpoint, and tracing.endpoint is the default"},
		{`tracing: {endpoint: "http://:4318"}`, "tracing.endpoint: must be an http:// or https:// URL with a host"},
		{"tracing: {auth_header: Authorization, auth_env: A, auth_file: f}", "tracing.auth_header: needs its value from exactly one of auth_env and auth_file"},
	} {
		if _, got := validated(t, write(t, "policy: {rules: a.yaml}\n"+tc.yaml+"\n")); !strings.Contains(got, tc.want) {
			t.Errorf("%s: missing %q in:\n%s", tc.yaml, tc.want, got)
		}
	}

	// The defaults are valid and off; the environment turns tracing on and points it elsewhere; the
	// credential's variable is withheld from the upstream; files are relative to the configuration.
	p = write(t, "policy: {rules: a.yaml}\ntracing: {auth_header: Authorization, auth_env: OTLP_TOKEN, ca_file: ca.pem}\n")
	cfg, _, err := Load(p, []string{"GATEHOUSE_TRACING_ENABLED=true", "GATEHOUSE_TRACING_ENDPOINT=https://collector.example:4318"})
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.Tracing
	if !tr.Enabled || tr.Endpoint != "https://collector.example:4318" || tr.Protocol != "http/protobuf" || tr.SampleRatio != 1 ||
		!tr.AcceptParent || !tr.Propagate || tr.ServiceName != "gatehouse" || tr.CAFile != filepath.Join(filepath.Dir(p), "ca.pem") {
		t.Errorf("tracing %+v", tr)
	}
	if got := tr.SecretEnv(); !slices.Equal(got, []string{"OTLP_TOKEN"}) {
		t.Errorf("SecretEnv %q", got)
	}
	if _, _, err := Load(p, []string{"GATEHOUSE_TRACING_ENABLED=maybe"}); err == nil || !strings.Contains(err.Error(), "$GATEHOUSE_TRACING_ENABLED") {
		t.Errorf("bad GATEHOUSE_TRACING_ENABLED: %v", err)
	}
	if Default().Tracing.Enabled {
		t.Error("tracing is on by default")
	}
}
