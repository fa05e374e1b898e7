package config

import (
	"fmt"
	"slices"
)

// ThreatConfig configures the threat scanner (SPEC §9). Shared by run and serve.
type ThreatConfig struct {
	// Enabled scans tool arguments, prompt arguments, resource URIs and results, and gives the policy
	// engines the result as input.threat (min_threat_score in rules). Default true.
	Enabled *bool `yaml:"enabled"`
	// Phases are the phases scanned: request, response. Default both.
	Phases []string `yaml:"phases"`
	// RefuseAt refuses a message whose score reaches it with reason threat_detected, whatever the
	// policies say. 0 (the default): the policies decide.
	RefuseAt float64 `yaml:"refuse_at"`
	// DisableRules are scanner rule ids that never report (docs/threat-scanner.md lists them).
	DisableRules []string `yaml:"disable_rules"`
	// Weights overrides the weights of rule ids, each in (0, 1].
	Weights map[string]float64 `yaml:"weights"`
}

// PinsConfig configures tool pinning (SPEC §9.3): the definition of every listed tool is pinned, and
// a tool whose definition changes (a rug pull) or reads as poisoned is quarantined until an operator
// approves it.
type PinsConfig struct {
	// Enabled pins tool definitions. Default true.
	Enabled *bool `yaml:"enabled"`
	// Action is what a quarantined tool gets: hold (default; listed, calls held for approval) or
	// hide (not listed, calls refused).
	Action string `yaml:"action"`
	// PoisonAt quarantines a new tool whose definition scores at least this on the threat scanner
	// (0.5 is the scanner's threshold). Default 0: the score of every new definition is audited, and
	// nothing is quarantined for it: the scanner is a heuristic (docs/threat-scanner.md).
	PoisonAt float64 `yaml:"poison_at"`
	// File keeps pins and approvals across restarts. Default gatehouse-pins.json, relative to the
	// configuration file; "memory" keeps them in memory only (a definition changed while gatehouse
	// was down is then pinned as new).
	File string `yaml:"file"`
}

// On reports whether the scanner runs.
func (t *ThreatConfig) On() bool { return t.Enabled == nil || *t.Enabled }

// On reports whether tools are pinned.
func (p *PinsConfig) On() bool { return p.Enabled == nil || *p.Enabled }

// MemoryPins is the pins.file value that keeps pins in memory only.
const MemoryPins = "memory"

func validateThreat(t *ThreatConfig, p *PinsConfig, add func(key, format string, args ...any)) {
	for _, ph := range t.Phases {
		if ph != "request" && ph != "response" {
			add("threat.phases", "%q is not a phase: request or response", ph)
		}
	}
	if t.RefuseAt < 0 || t.RefuseAt > 1 {
		add("threat.refuse_at", "must be between 0 and 1 (got %v)", t.RefuseAt)
	}
	for id, w := range t.Weights {
		if !(w > 0 && w <= 1) {
			add("threat.weights", "%s: weight must be in (0, 1] (got %v)", id, w)
		}
	}
	if !slices.Contains([]string{"", "hold", "hide"}, p.Action) {
		add("pins.action", "must be hold or hide (got %q)", p.Action)
	}
	if p.PoisonAt < 0 || p.PoisonAt > 1 {
		add("pins.poison_at", "must be between 0 and 1 (got %v)", p.PoisonAt)
	}
	if p.On() && p.File == "" {
		add("pins.file", "must name a file, or %q to keep pins in memory", MemoryPins)
	}
}

// String describes the scanner settings for the start-up log.
func (t *ThreatConfig) String() string {
	if !t.On() {
		return "off"
	}
	phases := t.Phases
	if len(phases) == 0 {
		phases = []string{"request", "response"}
	}
	return fmt.Sprintf("phases=%v refuse_at=%v", phases, t.RefuseAt)
}
