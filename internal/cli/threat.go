package cli

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/threat"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/pin"
	stagethreat "github.com/gatehouse-mcp/gatehouse/internal/stage/threat"
)

// buildThreat builds the threat stage and the tool pinner the configuration asks for; either may be
// nil (switched off).
func buildThreat(tc config.ThreatConfig, pc config.PinsConfig, fail pipeline.Fail, reg prometheus.Registerer, logger *slog.Logger) (*stagethreat.Stage, *pin.Pinner, error) {
	var sc *threat.Scanner
	if tc.On() || pc.On() {
		var err error
		if sc, err = threat.New(threat.Config{Disable: tc.DisableRules, Weights: tc.Weights}); err != nil {
			return nil, nil, fmt.Errorf("threat: %w", err)
		}
	}
	var st *stagethreat.Stage
	if tc.On() {
		var phases []policy.Phase
		for _, p := range tc.Phases {
			phases = append(phases, policy.Phase(p))
		}
		var err error
		st, err = stagethreat.New(stagethreat.Config{Scanner: sc, Phases: phases, RefuseAt: tc.RefuseAt,
			Metrics: stagethreat.NewMetrics(reg), Logger: logger})
		if err != nil {
			return nil, nil, err
		}
	}
	var pins *pin.Pinner
	if pc.On() {
		var store pin.Store = pin.NewMemoryStore()
		if pc.File != config.MemoryPins {
			fs, err := pin.OpenFileStore(pc.File)
			if err != nil {
				return nil, nil, fmt.Errorf("pins: %w", err)
			}
			store = fs
		}
		var err error
		pins, err = pin.New(pin.Config{Store: store, Action: pin.Action(pc.Action), Scanner: sc, PoisonAt: pc.PoisonAt,
			Fail: fail, Metrics: pin.NewMetrics(reg), Logger: logger})
		if err != nil {
			return nil, nil, err
		}
	}
	return st, pins, nil
}
