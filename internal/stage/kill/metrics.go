package kill

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the kill stage's metrics. Nil Metrics record nothing.
type Metrics struct {
	killed *prometheus.CounterVec
}

// NewMetrics registers the stage's metrics with reg:
//   - gatehouse_sessions_killed_total{engine}: sessions killed by a kill_session decision, by the
//     engine that decided it (SPEC §13.2). The label is bounded by the engines configured.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		killed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_sessions_killed_total",
			Help: "kill_session decisions carried out (the session, or for a 2026-07-28 request the agent, killed), by the engine that decided it.",
		}, []string{"engine"}),
	}
	reg.MustRegister(m.killed)
	return m
}

// Engines makes a zero series for each engine, so that a dashboard shows zeros rather than gaps.
func (m *Metrics) Engines(names ...string) {
	if m == nil {
		return
	}
	for _, n := range names {
		m.killed.WithLabelValues(n)
	}
}

func (m *Metrics) kill(engine string) {
	if m != nil {
		m.killed.WithLabelValues(engine).Inc()
	}
}
