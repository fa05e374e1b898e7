package config

import (
	"time"
)

// Rego is the embedded Rego engine's setup, resolved from the settings and their origins (SPEC §5.7).
type Rego struct {
	// Enabled says whether the engine runs at all.
	Enabled bool
	// Mode is enforce, monitor or off.
	Mode string
	// FailOpenUnloaded is set when no fail posture was chosen: while no bundle has loaded, the engine
	// allows every call and logs an ERROR for each (SPEC §5.7). With fail set explicitly, that posture
	// applies instead.
	FailOpenUnloaded bool
	// Poll is how often the bundle is checked for a change; 0 never.
	Poll time.Duration
	// Query is the decision asked for.
	Query string
	// Timeout bounds one evaluation.
	Timeout time.Duration
	// Evaluator is auto or topdown (policy.rego_evaluator); empty means auto.
	Evaluator string
}

// ResolveRego works out how the Rego engine runs. explicit reports whether a setting (a dotted key)
// was given explicitly — by the configuration file, a GATEHOUSE_* variable or a flag — rather than
// left at its default or filled in by a seed-compatible variable. The rules, in order:
//
//   - the engine is on when policy.enabled says so, or (unset) when a bundle or bundle URL is named;
//   - mode off turns every engine off;
//   - an explicit policy.rego_mode is used as given;
//   - mode monitor, or an explicit mode enforce, is followed;
//   - otherwise EXPERIMENTAL_POLICY_ENGINE decides: true enforces, anything else monitors (the seed's
//     default: a new engine observes before it blocks).
func (c *Config) ResolveRego(explicit func(key string) bool) Rego {
	p := &c.Policy
	r := Rego{Query: p.Query, Timeout: p.RegoTimeout.D(), Evaluator: p.RegoEvaluator, FailOpenUnloaded: !explicit("fail")}
	if r.Query == "" {
		r.Query = DefaultQuery
	}
	if r.Timeout <= 0 {
		r.Timeout = time.Second
	}
	r.Enabled = p.Bundle != "" || p.BundleURL != ""
	if p.Enabled != nil {
		r.Enabled = *p.Enabled
	}
	switch {
	case p.PollSeconds != nil:
		r.Poll = time.Duration(*p.PollSeconds) * time.Second
	case p.BundleURL != "":
		r.Poll = time.Minute
	}
	switch {
	case !r.Enabled || c.Mode == "off":
		r.Mode = "off"
	case explicit("policy.rego_mode") && p.RegoMode != "":
		r.Mode = p.RegoMode
	case c.Mode == "monitor":
		r.Mode = "monitor"
	case explicit("mode"):
		r.Mode = c.Mode
	case p.RegoMode != "":
		r.Mode = p.RegoMode // from EXPERIMENTAL_POLICY_ENGINE
	default:
		r.Mode = "monitor"
	}
	if r.Mode == "off" {
		r.Enabled, r.FailOpenUnloaded = false, false
	}
	return r
}
