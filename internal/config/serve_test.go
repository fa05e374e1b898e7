package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/auth"
)

func writeServe(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(p), "rules.yaml"), []byte("name: x\nversion: \"1\"\ndefault_effect: allow\nrules: []\n"), 0o600)
	return p
}

// serveProblems loads and validates a serve file and returns every problem as "line: key: message".
func serveProblems(t *testing.T, body string, env ...string) []string {
	t.Helper()
	cfg, src, err := LoadServe(writeServe(t, body), env)
	if err == nil {
		err = cfg.Validate(src)
	}
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		t.Fatalf("not a located error: %v", err)
	}
	if ce == nil {
		return nil
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestServeExamplesCheck(t *testing.T) {
	for _, f := range []string{"serve.yaml", "serve-conformance.yaml"} {
		cfg, src, err := LoadServe("../../examples/"+f, []string{"UPSTREAM_URL=http://127.0.0.1:1/", "GATEHOUSE_LISTEN=127.0.0.1:2"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := cfg.Validate(src); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestServeEnvReferences(t *testing.T) {
	const body = "listen: ${LISTEN}\nupstreams:\n  - name: a\n    url: ${URL}\npolicy: {rules: rules.yaml}\n"
	if ps := serveProblems(t, body, "LISTEN=127.0.0.1:9", "URL=http://127.0.0.1:1/mcp"); ps != nil {
		t.Errorf("with the variables set: %v", ps)
	}
	ps := serveProblems(t, body, "LISTEN=127.0.0.1:9")
	if len(ps) != 1 || !strings.Contains(ps[0], "URL") || !strings.Contains(ps[0], ":4:") {
		t.Errorf("an unset variable should be one located problem on line 4, got %v", ps)
	}
}

func TestServeValidationIsLocated(t *testing.T) {
	ps := serveProblems(t, `listen: 0.0.0.0:8080
admin:
  listen: 127.0.0.1:8080
  token_sha256: nothex
http:
  deny_as: shrug
  max_in_flight: 0
  write_timeout: 0s
  max_sessions: -1
upstreams:
  - name: a
    url: ftp://x
  - name: a
    command: [x]
    url: http://x
  - name: fs
    builtin: fs
rate_limits:
  - scope: planet
    limit: 0
    per: 1m
  - scope: tool
    limit: 2000
    per: 1ms
`)
	want := []string{
		"0.0.0.0:8080 is not a loopback address", // anonymous on a public address
		"admin.token_sha256",
		"http.deny_as",
		"is not an http(s) URL",
		`name "a" is used twice`,
		"set exactly one of url, command and builtin",
		"set tenancy.enabled: true",
		"scope must be",
		"http.max_in_flight: must be at least 1 (got 0)",
		"http.write_timeout: must be more than 0",
		"http.max_sessions: must be at least 1 (got -1)",
		"rate_limits[1]: 2000 per 1ms is more than one call per microsecond",
	}
	joined := strings.Join(ps, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("no problem mentions %q in:\n%s", w, joined)
		}
	}
	for _, p := range ps {
		if strings.Contains(p, "deny_as") && !strings.Contains(p, ":6:") {
			t.Errorf("deny_as problem not located on line 6: %s", p)
		}
		if strings.Contains(p, "used twice") && !strings.Contains(p, ":13: upstreams[1]") {
			t.Errorf("the duplicate upstream is not located at its item, line 13: %s", p)
		}
	}
	// An unknown key is reported with the other problems, in line order.
	if ps := serveProblems(t, "listen: 127.0.0.1:1\nupstreams:\n  - name: a\n    url: http://x\n    colour: blue\nhttp:\n  deny_as: shrug\n"); len(ps) != 3 ||
		!strings.Contains(ps[0], ":5: field colour not found") || !strings.Contains(ps[1], ":7: http.deny_as") || !strings.Contains(ps[2], "no policy to enforce") {
		t.Errorf("unknown key with other problems: %q", ps)
	}
}

func TestServeTenancyValidation(t *testing.T) {
	base := "listen: 127.0.0.1:1\npolicy: {rules: rules.yaml}\nupstreams:\n  - name: fs\n    builtin: fs\n"
	if ps := serveProblems(t, base+"tenancy:\n  enabled: true\n  default: default\n"); ps != nil {
		t.Errorf("a valid tenancy section: %v", ps)
	}
	if ps := serveProblems(t, base+"    fs: {min_free_mb: 0}\ntenancy:\n  enabled: true\n"); ps != nil {
		t.Errorf("min_free_mb 0 (the check off): %v", ps)
	}
	if ps := serveProblems(t, base+"    fs: {min_free_mb: -1}\ntenancy:\n  enabled: true\n"); len(ps) != 1 || !strings.Contains(ps[0], "fs.min_free_mb must be 0-1048576 (got -1)") {
		t.Errorf("min_free_mb -1: %v", ps)
	}
	ps := serveProblems(t, base+`tenancy:
  enabled: true
  sources: [token, cookie, header]
  header: "bad header"
  trusted_proxies: [10.0.0.0/8, not-an-ip]
  default: ../escape
  default_allowlist: ["[bad"]
  engagements:
    "a/b":
      allowlist: [fs.read]
    acme:
      allowlist: ["has space"]
`)
	joined := strings.Join(ps, "\n")
	for _, w := range []string{`"cookie" is not a source`, "tenancy.header", "not-an-ip", "tenancy.default:", "tenancy.default_allowlist", "tenancy.engagements.a/b", "tenancy.engagements.acme.allowlist"} {
		if !strings.Contains(joined, w) {
			t.Errorf("no problem mentions %q in:\n%s", w, joined)
		}
	}
	if ps := serveProblems(t, base+"tenancy:\n  enabled: true\n  sources: [header]\n"); len(ps) != 1 || !strings.Contains(ps[0], "trusted proxies") {
		t.Errorf("header source without trusted proxies: %v", ps)
	}
}

func TestServeBuiltinDefaultsAndSeedEnv(t *testing.T) {
	path := writeServe(t, "listen: 127.0.0.1:1\ntenancy: {enabled: true}\nupstreams:\n  - name: fs\n    builtin: fs\n")
	cfg, _, err := LoadServe(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	fs := cfg.Upstreams[0].FS
	if fs.DataRoot != filepath.Join(dir, DefaultDataRoot) || fs.MaxFileMB != DefaultMaxFileMB || !cfg.MCPEnabled() {
		t.Errorf("defaults: %+v enabled=%v", fs, cfg.MCPEnabled())
	}
	if cfg.Tenancy.AllowlistFile != filepath.Join(dir, "gatehouse-engagements.json") {
		t.Errorf("allowlist file %q is not relative to the configuration file", cfg.Tenancy.AllowlistFile)
	}
	cfg, _, err = LoadServe(path, []string{"MCP_DATA_ROOT=/srv/data", "MCP_MAX_FILE_SIZE_MB=3", "MCP_ENABLED=false", "MCP_MAX_REQUEST_SIZE_MB=7"})
	if err != nil {
		t.Fatal(err)
	}
	fs = cfg.Upstreams[0].FS
	if fs.DataRoot != "/srv/data" || fs.MaxFileMB != 3 || cfg.MCPEnabled() || cfg.Limits.MaxMessageMB != 7 {
		t.Errorf("seed variables not applied: %+v enabled=%v max_message_mb=%d", fs, cfg.MCPEnabled(), cfg.Limits.MaxMessageMB)
	}
	for _, bad := range []string{"MCP_MAX_FILE_SIZE_MB=lots", "MCP_MAX_FILE_SIZE_MB=0", "MCP_ENABLED=perhaps"} {
		if _, _, err := LoadServe(path, []string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestServeConfigDocCoversEveryKey keeps the docs in step with ServeConfig: every key, down to the
// leaves of the auth section and of upstreams' credentials, must have a row in docs/configuration.md
// or docs/authentication.md (where auth and credentials are documented). The sections serve shares
// with run (mode, fail, policy, audit, limits, log, threat, pins) are checked by
// TestConfigDocCoversEveryKey.
func TestServeConfigDocCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	authDoc, err := os.ReadFile("../../docs/authentication.md")
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]bool{"mode": true, "fail": true, "policy": true, "audit": true, "limits": true, "log": true, "threat": true, "pins": true}
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || name == "" || name == "-" || prefix == "" && shared[name] {
				continue // not a key of the file
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			key := prefix + name
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)):
				walk(key+".", ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(key+"[].", ft.Elem())
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(key+".<id>.", ft.Elem())
			default:
				keys = append(keys, key)
			}
		}
	}
	walk("", reflect.TypeOf(ServeConfig{}))
	if len(keys) < 90 || !slices.Contains(keys, "auth.jwt.scope_claim") || !slices.Contains(keys, "upstreams[].credentials.client_credentials.client_secret_env") {
		t.Fatalf("walked only %d keys, or not into auth and credentials: %v", len(keys), keys)
	}
	for _, k := range keys {
		row := "| `" + k + "` |"
		if !strings.Contains(string(doc), row) && !strings.Contains(string(authDoc), row) {
			t.Errorf("neither docs/configuration.md nor docs/authentication.md documents serve key %s", k)
		}
	}
	for _, v := range []string{"GATEHOUSE_LISTEN", "MCP_ENABLED", "MCP_DATA_ROOT", "MCP_MAX_FILE_SIZE_MB", "MCP_MAX_REQUEST_SIZE_MB"} {
		if !strings.Contains(string(doc), "`"+v+"`") {
			t.Errorf("docs/configuration.md does not document $%s", v)
		}
	}
}

// The embedded default loads, validates, and is what SPEC §1.3 describes.
func TestEmbeddedServe(t *testing.T) {
	cfg, src, err := LoadServe("", []string{"GATEHOUSE_ADMIN_LISTEN=127.0.0.1:19090"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(src); err != nil {
		t.Fatal(err)
	}
	u := cfg.Upstreams[0]
	if cfg.Listen != "127.0.0.1:8080" || cfg.Path != "/mcp" || cfg.Admin.Listen != "127.0.0.1:19090" ||
		u.Builtin != "fs" || u.PrefixOf() != "fs" || u.FS.DataRoot != "gatehouse-data" || u.FS.MaxFileMB != 10 ||
		!cfg.Tenancy.Enabled || cfg.Tenancy.Default != "default" || cfg.Policy.Bundle != BuiltinStarter ||
		cfg.Audit.Path != "gatehouse-audit.jsonl" || cfg.Mode != "enforce" {
		t.Errorf("embedded default: %+v", cfg)
	}
	// serve --print-config writes it as a file to start from: that file checks too.
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(path, []byte(EmbeddedServe), 0o600)
	cfg, src, err = LoadServe(path, nil)
	if err == nil {
		err = cfg.Validate(src)
	}
	if err != nil || !IsServeFile(path) {
		t.Errorf("the printed default does not load as a file: %v", err)
	}
}

func TestServeSecretEnv(t *testing.T) {
	cfg := &ServeConfig{
		Auth: &auth.Config{JWT: &auth.JWTConfig{HMACKeys: []auth.HMACKeyConfig{{SecretEnv: "IDP_HMAC"}, {SecretFile: "k"}}}},
		Upstreams: []UpstreamSpec{
			{Name: "a", Credentials: &auth.UpstreamCredentialsConfig{Env: "A_TOKEN"}},
			{Name: "b", Credentials: &auth.UpstreamCredentialsConfig{ClientCredentials: &auth.ClientCredentialsConfig{ClientSecretEnv: "B_SECRET"}}},
			{Name: "c", Credentials: &auth.UpstreamCredentialsConfig{Env: "A_TOKEN"}},
			{Name: "d"},
		},
	}
	if got, want := cfg.SecretEnv(), []string{"IDP_HMAC", "A_TOKEN", "B_SECRET"}; !slices.Equal(got, want) {
		t.Errorf("SecretEnv = %q, want %q", got, want)
	}
}

func TestServeSecretEnvIncludesReferences(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "serve.yaml")
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("name: x\nversion: \"1\"\ndefault_effect: allow\nrules: []\n"), 0o600)
	os.WriteFile(p, []byte("policy: {rules: rules.yaml}\nupstreams:\n  - name: w\n    url: https://w.example/mcp\n    headers: {Authorization: \"Bearer ${WEATHER_TOKEN}\"}\n"), 0o600)
	cfg, _, err := LoadServe(p, []string{"WEATHER_TOKEN=t0k"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.SecretEnv(), "WEATHER_TOKEN") {
		t.Errorf("SecretEnv = %q, want WEATHER_TOKEN (referenced as ${WEATHER_TOKEN})", cfg.SecretEnv())
	}
}

// admin.allowed_origins must be origins, and needs the admin token: without one, a page of another
// origin could use the admin API.
func TestServeAdminAllowedOrigins(t *testing.T) {
	const base = "upstreams:\n  - name: a\n    url: http://127.0.0.1:1/mcp\npolicy: {rules: rules.yaml}\nadmin:\n  listen: 127.0.0.1:9090\n"
	token := "  token_sha256: " + strings.Repeat("ab", 32) + "\n"
	if ps := serveProblems(t, base+token+"  allowed_origins: [https://gatehouse.example.com]\n"); ps != nil {
		t.Errorf("an origin with a token: %v", ps)
	}
	ps := serveProblems(t, base+"  allowed_origins: [https://gatehouse.example.com]\n")
	if len(ps) != 1 || !strings.Contains(ps[0], "admin.allowed_origins: needs admin.token_sha256") {
		t.Errorf("an origin without a token: %v", ps)
	}
	ps = serveProblems(t, base+token+"  allowed_origins: [gatehouse.example.com, https://x.example/path]\n")
	if len(ps) != 2 || !strings.Contains(ps[0], "is not an origin") {
		t.Errorf("values that are not origins: %v", ps)
	}
}

func TestPackAgentToolsValidation(t *testing.T) {
	base := "listen: 127.0.0.1:1\nupstreams:\n  - name: repo\n    command: [x]\n"
	if ps := serveProblems(t, base+"policy: {rules: rules.yaml, pack_agent_tools: true}\n"); len(ps) != 1 || !strings.Contains(ps[0], "pack_agent_tools need a pack (policy.pack)") {
		t.Errorf("agent tools without a pack: %v", ps)
	}
	if ps := serveProblems(t, base+"policy: {pack: pack.json, pack_mode: 'off', rules: rules.yaml, pack_agent_tools: true}\n"); len(ps) != 1 || !strings.Contains(ps[0], "policy.pack_agent_tools: the pack's agent tools answer from the pack engine, which is off") {
		t.Errorf("agent tools with the pack engine off: %v", ps)
	}
	for _, up := range []string{"  - name: gatehouse\n    command: [y]\n", "  - name: other\n    prefix: gatehouse\n    command: [y]\n",
		// With the separator _, the tool policy of the upstream gatehouse_pack is gatehouse_pack_policy.
		"  - name: gatehouse_pack\n    command: [y]\nfederation: {separator: _}\n"} {
		if ps := serveProblems(t, base+up+"policy: {pack: pack.json, pack_agent_tools: true}\n"); len(ps) != 1 || !strings.Contains(ps[0], `the name "gatehouse", and prefixes that spell the names of its tools, are gatehouse's own`) {
			t.Errorf("an upstream in gatehouse's place (%q): %v", up, ps)
		}
		if ps := serveProblems(t, base+up+"policy: {pack: pack.json}\n"); ps != nil {
			t.Errorf("the same upstream, agent tools off: %v", ps)
		}
	}
	if ps := serveProblems(t, base+"  - name: gatehouse_pack\n    command: [y]\npolicy: {pack: pack.json, pack_agent_tools: true}\n"); ps != nil {
		t.Errorf("gatehouse_pack with the separator '.' spells no agent tool: %v", ps)
	}
	if ps := serveProblems(t, base+"mode: 'off'\npolicy: {pack: pack.json, pack_agent_tools: true}\n"); len(ps) != 1 || !strings.Contains(ps[0], "which is off") {
		t.Errorf("agent tools with mode off: %v", ps)
	}
	cfg, _, err := LoadServe(writeServe(t, base+"federation: {separator: __}\npolicy: {pack: pack.json, pack_agent_tools: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, e := cfg.Shared().PackAgentTools(); p != "gatehouse__pack_policy" || e != "gatehouse__pack_evaluate" {
		t.Errorf("names under serve follow the separator: %q %q", p, e)
	}
	run := Default()
	run.Policy.Pack, run.Policy.PackAgentTools = "pack.json", true
	if p, e := run.PackAgentTools(); p != "gatehouse.pack_policy" || e != "gatehouse.pack_evaluate" {
		t.Errorf("names under run: %q %q", p, e)
	}
	run.Upstream.Name = "gatehouse"
	var ce *Error
	if err := run.Validate(nil); !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0].String(), `upstream.name: "gatehouse" is the server of gatehouse's own tools`) {
		t.Errorf("run's upstream named gatehouse: %v", err)
	}
	run.Policy.PackAgentTools = false
	if p, e := run.PackAgentTools(); p != "" || e != "" {
		t.Errorf("off: %q %q", p, e)
	}
}

func TestReplicasValidation(t *testing.T) {
	base := "listen: 127.0.0.1:1\npolicy: {rules: rules.yaml}\nupstreams:\n  - name: fs\n    builtin: fs\ntenancy: {enabled: true, default: default}\n"
	valid := base + "replicas:\n  name: ${POD}\n  key_env: REPLICA_KEY\n  peers:\n    gw-0: http://gw-0.gw:8080\n    gw-1: https://gw-1.gw:8443/\n"
	cfg, src, err := LoadServe(writeServe(t, valid), []string{"POD=gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(src); err != nil || cfg.Replicas.Name != "gw-1" || !cfg.Replicas.Enabled() {
		t.Fatalf("a valid replicas section: %v (%+v)", err, cfg.Replicas)
	}
	peers, err := cfg.Replicas.PeerURLs()
	if err != nil || peers["gw-1"].String() != "https://gw-1.gw:8443" || peers["gw-0"].String() != "http://gw-0.gw:8080" {
		t.Errorf("PeerURLs = %v, %v", peers, err)
	}
	if !slices.Contains(cfg.SecretEnv(), "REPLICA_KEY") {
		t.Errorf("SecretEnv = %q: the servers gatehouse starts would inherit the replica key", cfg.SecretEnv())
	}
	p := writeServe(t, base+"replicas:\n  name: gw-0\n  key_file: replica.key\n  peers: {gw-1: http://gw-1:8080}\n")
	cfg, _, err = LoadServe(p, nil)
	if err != nil || cfg.Replicas.KeyFile != filepath.Join(filepath.Dir(p), "replica.key") {
		t.Errorf("key_file %q is not relative to the configuration file (%v)", cfg.Replicas.KeyFile, err)
	}

	for _, c := range []struct{ body, want string }{
		{"replicas:\n  key_env: K\n  peers: {a: http://a:1}\n", "replicas.key_env: is set but replicas.name is not"},
		{"replicas:\n  peers: {a: http://a:1}\n", "replicas.peers: is set but replicas.name is not"},
		{"replicas:\n  name: Gw_0\n  key_env: K\n  peers: {a: http://a:1}\n", `"Gw_0" is not a DNS label`},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {a: http://a:1}\n", "at least one replica other than this one"},
		{"replicas:\n  name: a\n  key_env: K\n", "at least one replica other than this one"},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {B: http://b:1}\n", `"B" is not a DNS label`},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {b: ftp://b:1}\n", "not an http or https URL"},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {b: http://b:1/mcp}\n", "must be scheme://host:port alone"},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {b: http://u:p@b:1}\n", "must be scheme://host:port alone"},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {b: \"http://:1\"}\n", "names no host"},
		{"replicas:\n  name: a\n  peers: {b: http://b:1}\n", "give the shared key one way"},
		{"replicas:\n  name: a\n  key_env: K\n  peers: {a: http://a:1, b: http://a:1/}\n", "a and b have one URL, http://a:1: each replica needs its own"},
		{"replicas:\n  name: a\n  key_env: K\n  key_file: k\n  peers: {b: http://b:1}\n", "give the shared key one way"},
	} {
		got := strings.Join(serveProblems(t, base+c.body), "\n")
		if !strings.Contains(got, c.want) {
			t.Errorf("%q: problems\n%s\nwant %q", c.body, got, c.want)
		}
	}
}
