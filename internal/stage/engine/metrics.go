package engine

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine stage's metrics, shared by every engine and labelled by engine name.
type Metrics struct {
	eval   *prometheus.HistogramVec
	errors *prometheus.CounterVec
}

// NewMetrics registers the engine metrics with reg:
//   - gatehouse_policy_eval_seconds{engine}: time to one decision (SPEC §13.2);
//   - gatehouse_policy_errors_total{engine}: decisions the fail posture made because the engine failed.
//
// With a nil reg it returns nil, which keeps nothing: gatehouse run has no listener to serve metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{
		eval: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_policy_eval_seconds",
			Help: "Time taken by one policy decision, by engine.",
			// Decisions take microseconds; buckets from 1 µs to ~65 ms.
			Buckets: prometheus.ExponentialBuckets(1e-6, 2, 17),
		}, []string{"engine"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_policy_errors_total",
			Help: "Policy decisions made by the fail posture because the engine failed, by engine.",
		}, []string{"engine"}),
	}
	reg.MustRegister(m.eval, m.errors)
	return m
}
