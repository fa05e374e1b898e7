package approval

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the approval stage's metrics.
type Metrics struct {
	pending prometheus.Gauge
}

// NewMetrics registers the stage's metrics with reg:
//   - gatehouse_approvals_pending: held calls waiting for a human decision (SPEC §13.2).
//
// Until the approval flow of SPEC §10 exists no call is held — a hold is answered at once with
// approval_required — so the gauge is truthfully 0. It becomes live with that flow.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{pending: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_approvals_pending",
		Help: "Held calls waiting for a human approval decision.",
	})}
	reg.MustRegister(m.pending)
	return m
}
