package config

import (
	"fmt"
	"slices"
	"strings"
)

// Validate checks every setting and reports every problem at once, located in the file when the
// setting came from one.
func (c *Config) Validate(src *Source) error {
	var ps []Problem
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
	if c.Audit.CheckpointInterval != nil && *c.Audit.CheckpointInterval < 0 {
		add("audit.checkpoint_interval", "must be 0 (off) or more")
	}
	if c.Limits.MaxMessageMB < 1 || c.Limits.MaxMessageMB > 1024 {
		add("limits.max_message_mb", "must be between 1 and 1024 (got %d)", c.Limits.MaxMessageMB)
	}
	if c.Limits.MaxDepth < 2 || c.Limits.MaxDepth > 1000 {
		add("limits.max_depth", "must be between 2 and 1000 (got %d)", c.Limits.MaxDepth)
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
	if c.Mode != "off" && c.Policy.Rules == "" {
		add("policy.rules", "no policy to enforce: give a rules file (--policy), or run with mode off to relay and audit only")
	}
	if ps == nil {
		return nil
	}
	// Located problems in file order, then those that come from no line (defaults, env, flags).
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line - a.Line
		}
		return a.Line - b.Line
	})
	return &Error{ps}
}
