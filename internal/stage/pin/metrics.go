package pin

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the pinner's metrics.
type Metrics struct {
	events      *prometheus.CounterVec
	blockedCall *prometheus.CounterVec
	storeErrors prometheus.Counter
}

// NewMetrics registers the pinner's metrics with reg:
//   - gatehouse_pin_events_total{status}: pins made and changed: new, changed, poisoned, restored,
//     approved;
//   - gatehouse_pin_blocked_calls_total{action}: calls of quarantined tools held or refused;
//   - gatehouse_pin_store_errors_total: store failures met during calls and lists.
//
// With a nil reg it returns nil, which keeps nothing: gatehouse run has no listener to serve metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_pin_events_total",
			Help: "Tool definition pins made or changed, by status.",
		}, []string{"status"}),
		blockedCall: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_pin_blocked_calls_total",
			Help: "Calls of quarantined tools held or refused, by action.",
		}, []string{"action"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_pin_store_errors_total",
			Help: "Pin store failures met during calls and lists.",
		}),
	}
	reg.MustRegister(m.events, m.blockedCall, m.storeErrors)
	return m
}

func (m *Metrics) observed(status Status) {
	if m != nil {
		m.events.WithLabelValues(string(status)).Inc()
	}
}

func (m *Metrics) blocked(a Action) {
	if m != nil {
		m.blockedCall.WithLabelValues(string(a)).Inc()
	}
}

func (m *Metrics) storeError() {
	if m != nil {
		m.storeErrors.Inc()
	}
}
