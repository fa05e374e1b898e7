package config

import (
	"fmt"
	"strconv"
	"strings"
)

// seedVar is a seed-compatible environment variable (SPEC §5.7): it fills in a setting the
// configuration file left unset, and gives way to the file, to GATEHOUSE_* variables and to flags.
// Explicit configuration wins over these defaults.
type seedVar struct {
	key string // the setting it fills in
	set func(c *Config, v string) error
}

// seedVars are the seed's settings. Documented in docs/configuration.md; a test keeps the two in step.
var seedVars = map[string]seedVar{
	// true: the Rego engine enforces; anything else (or unset): it runs in monitor mode.
	"EXPERIMENTAL_POLICY_ENGINE": {"policy.rego_mode", func(c *Config, v string) error {
		on, err := parseBool(v)
		if err != nil {
			return err
		}
		c.Policy.RegoMode = "monitor"
		if on {
			c.Policy.RegoMode = "enforce"
		}
		return nil
	}},
	"POLICY_ENABLED": {"policy.enabled", func(c *Config, v string) error {
		on, err := parseBool(v)
		if err != nil {
			return err
		}
		c.Policy.Enabled = &on
		return nil
	}},
	"POLICY_BUNDLE_PATH": {"policy.bundle", func(c *Config, v string) error { c.Policy.Bundle = v; return nil }},
	"POLICY_BUNDLE_URL":  {"policy.bundle_url", func(c *Config, v string) error { c.Policy.BundleURL = v; return nil }},
	"POLICY_POLL_SEC": {"policy.poll_seconds", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("must be a whole number of seconds, 0 or more")
		}
		c.Policy.PollSeconds = &n
		return nil
	}},
}

// applySeeds fills in, from the seed-compatible variables, the settings the file did not set.
func (c *Config) applySeeds(env []string, src *Source) error {
	var ps []Problem
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		seed, known := seedVars[k]
		if !ok || !known || v == "" || src.Explicit(seed.key) {
			continue
		}
		if seed.key == "policy.bundle" && src.Explicit("policy.bundle_url") || seed.key == "policy.bundle_url" && src.Explicit("policy.bundle") {
			continue // the file names the bundle another way
		}
		if err := seed.set(c, v); err != nil {
			ps = append(ps, Problem{Key: "$" + k, Message: err.Error()})
			continue
		}
		if src.seeded == nil {
			src.seeded = map[string]bool{}
		}
		src.seeded[seed.key] = true
	}
	if ps != nil {
		return &Error{ps}
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false (got %q)", v)
}

// SetBundle names the Rego bundle: an http(s) URL goes to bundle_url, anything else is a path.
func (p *PolicyConfig) SetBundle(v string) {
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		p.Bundle, p.BundleURL = "", v
		return
	}
	p.Bundle, p.BundleURL = v, ""
}
