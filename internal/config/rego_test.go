package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResolveRego walks the rules of SPEC §5.7 that decide how the Rego engine runs.
func TestResolveRego(t *testing.T) {
	tests := []struct {
		name     string
		file     string // configuration file; empty for none
		env      []string
		flags    []string // keys set by flags
		mode     string
		enabled  bool
		failOpen bool
		poll     time.Duration
	}{
		{name: "nothing configured", mode: "off"},
		{name: "a bundle, nothing else: monitor, fail-open while unloaded", env: []string{"POLICY_BUNDLE_PATH=/b"},
			mode: "monitor", enabled: true, failOpen: true},
		{name: "EXPERIMENTAL_POLICY_ENGINE=true enforces", env: []string{"POLICY_BUNDLE_PATH=/b", "EXPERIMENTAL_POLICY_ENGINE=true"},
			mode: "enforce", enabled: true, failOpen: true},
		{name: "EXPERIMENTAL_POLICY_ENGINE=false monitors", env: []string{"POLICY_BUNDLE_PATH=/b", "EXPERIMENTAL_POLICY_ENGINE=false"},
			mode: "monitor", enabled: true, failOpen: true},
		{name: "explicit fail closes the unloaded gap", file: "fail: closed\npolicy:\n  bundle: /b\n",
			mode: "monitor", enabled: true},
		{name: "GATEHOUSE_FAIL is explicit too", env: []string{"POLICY_BUNDLE_PATH=/b", "GATEHOUSE_FAIL=closed"},
			mode: "monitor", enabled: true},
		{name: "a fail flag is explicit", env: []string{"POLICY_BUNDLE_PATH=/b"}, flags: []string{"fail"},
			mode: "monitor", enabled: true},
		{name: "explicit mode enforce wins over the seed default", file: "mode: enforce\npolicy:\n  bundle: /b\n",
			env: []string{"EXPERIMENTAL_POLICY_ENGINE=false"}, mode: "enforce", enabled: true, failOpen: true},
		{name: "explicit mode monitor wins over EXPERIMENTAL_POLICY_ENGINE", file: "mode: monitor\npolicy:\n  bundle: /b\n",
			env: []string{"EXPERIMENTAL_POLICY_ENGINE=true"}, mode: "monitor", enabled: true, failOpen: true},
		{name: "rego_mode in the file wins over the seed", file: "policy:\n  bundle: /b\n  rego_mode: monitor\n",
			env: []string{"EXPERIMENTAL_POLICY_ENGINE=true"}, mode: "monitor", enabled: true, failOpen: true},
		{name: "rego_mode wins over mode", file: "mode: monitor\npolicy:\n  bundle: /b\n  rego_mode: enforce\n",
			mode: "enforce", enabled: true, failOpen: true},
		{name: "mode off turns Rego off", file: "mode: off\npolicy:\n  bundle: /b\n  rego_mode: enforce\n", mode: "off"},
		{name: "POLICY_ENABLED=false turns it off", env: []string{"POLICY_BUNDLE_PATH=/b", "POLICY_ENABLED=false"}, mode: "off"},
		{name: "POLICY_ENABLED=true with no bundle still runs", env: []string{"POLICY_ENABLED=true"},
			mode: "monitor", enabled: true, failOpen: true},
		{name: "enabled: false in the file wins over POLICY_ENABLED", file: "policy:\n  bundle: /b\n  enabled: false\n",
			env: []string{"POLICY_ENABLED=true"}, mode: "off"},
		{name: "a URL polls every minute by default", env: []string{"POLICY_BUNDLE_URL=https://b.example/b.tar.gz"},
			mode: "monitor", enabled: true, failOpen: true, poll: time.Minute},
		{name: "POLICY_POLL_SEC", env: []string{"POLICY_BUNDLE_PATH=/b", "POLICY_POLL_SEC=5"},
			mode: "monitor", enabled: true, failOpen: true, poll: 5 * time.Second},
		{name: "poll_seconds 0 never polls a URL", file: "policy:\n  bundle_url: https://b.example/b.tar.gz\n  poll_seconds: 0\n",
			mode: "monitor", enabled: true, failOpen: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = write(t, tt.file)
			}
			cfg, src, err := Load(path, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			r := cfg.ResolveRego(func(key string) bool {
				for _, f := range tt.flags {
					if f == key {
						return true
					}
				}
				return src.Explicit(key)
			})
			if r.Mode != tt.mode || r.Enabled != tt.enabled || r.FailOpenUnloaded != tt.failOpen || r.Poll != tt.poll {
				t.Errorf("got mode %s enabled %v fail-open-unloaded %v poll %v, want %s %v %v %v",
					r.Mode, r.Enabled, r.FailOpenUnloaded, r.Poll, tt.mode, tt.enabled, tt.failOpen, tt.poll)
			}
			if r.Query != DefaultQuery || r.Timeout != time.Second {
				t.Errorf("query %q timeout %v, want the defaults", r.Query, r.Timeout)
			}
		})
	}
}

func TestSeedsGiveWayToTheFile(t *testing.T) {
	p := write(t, "policy:\n  bundle: rel/bundle\n  poll_seconds: 9\n")
	cfg, src, err := Load(p, []string{"POLICY_BUNDLE_PATH=/seed", "POLICY_BUNDLE_URL=https://seed.example/b", "POLICY_POLL_SEC=1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(p), "rel", "bundle"); cfg.Policy.Bundle != want {
		t.Errorf("bundle = %q, want the file's %q, resolved against it", cfg.Policy.Bundle, want)
	}
	if cfg.Policy.BundleURL != "" || *cfg.Policy.PollSeconds != 9 {
		t.Errorf("a seed overrode the file: url %q poll %d", cfg.Policy.BundleURL, *cfg.Policy.PollSeconds)
	}
	if src.Seeded("policy.bundle") || !src.Explicit("policy.bundle") {
		t.Error("the file's bundle is not recorded as explicit")
	}
	// GATEHOUSE_POLICY_BUNDLE is not a seed: it wins over the file, and takes URLs.
	cfg, src, err = Load(p, []string{"GATEHOUSE_POLICY_BUNDLE=https://b.example/b.tar.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.BundleURL != "https://b.example/b.tar.gz" || cfg.Policy.Bundle != "" || !src.Explicit("policy.bundle") {
		t.Errorf("GATEHOUSE_POLICY_BUNDLE: bundle %q url %q", cfg.Policy.Bundle, cfg.Policy.BundleURL)
	}
	// A relative seed path stays relative to the working directory, not the file.
	cfg, _, err = Load(write(t, "mode: enforce\n"), []string{"POLICY_BUNDLE_PATH=policies"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Bundle != "policies" {
		t.Errorf("seed bundle = %q, want policies", cfg.Policy.Bundle)
	}
	for _, bad := range []string{"POLICY_POLL_SEC=soon", "POLICY_ENABLED=perhaps", "EXPERIMENTAL_POLICY_ENGINE=2"} {
		if _, _, err := Load("", []string{bad}); err == nil || !strings.Contains(err.Error(), "$"+strings.Split(bad, "=")[0]) {
			t.Errorf("%s: got %v, want a problem naming the variable", bad, err)
		}
	}
}

func TestRegoOnlyConfigurationValidates(t *testing.T) {
	cfg := Default()
	cfg.Policy.Bundle = "policies"
	if err := cfg.Validate(nil); err != nil {
		t.Errorf("a Rego-only configuration: %v", err)
	}
	on := true
	cfg = Default()
	cfg.Policy.Enabled = &on
	if err := cfg.Validate(nil); err != nil {
		t.Errorf("Rego enabled with the bundle to come: %v", err)
	}
	off := false
	cfg.Policy.Enabled, cfg.Policy.Bundle = &off, "policies"
	if err := cfg.Validate(nil); err == nil || !strings.Contains(err.Error(), "no policy to enforce") {
		t.Errorf("Rego disabled and no rules: got %v, want no policy to enforce", err)
	}
}

func TestRegoSettingsValidated(t *testing.T) {
	p := write(t, `policy:
  bundle: b
  bundle_url: ftp://x/y
  bundle_sha256: abc
  poll_seconds: -1
  query: gatehouse.decision
  rego_mode: strict
  rego_timeout: 2h
  rego_evaluator: wasm
`)
	_, got := validated(t, p)
	hasProblems(t, got,
		p+":3: policy.bundle_url: give one of policy.bundle",
		p+":3: policy.bundle_url: must be an http:// or https:// URL",
		p+":4: policy.bundle_sha256: must be 64 hex digits",
		p+":5: policy.poll_seconds: must be between 0 (never) and 86400 (got -1)",
		p+":6: policy.query: must be a reference into data",
		p+`:7: policy.rego_mode: must be one of enforce, monitor, off (got "strict")`,
		p+":8: policy.rego_timeout: must be between 1ms and 1m (got 2h0m0s)",
		p+`:9: policy.rego_evaluator: must be auto or topdown (got "wasm")`,
	)
}
