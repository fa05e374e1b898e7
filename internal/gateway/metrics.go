package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's own metrics (SPEC §13.2); the engine stage owns the decision-latency
// histogram. Nil Metrics record nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	audit    prometheus.Histogram
}

// NewMetrics registers the gateway metrics with reg:
//   - gatehouse_requests_total{method,effect,code}: decided requests by outcome;
//   - gatehouse_upstream_seconds{upstream}: time from forwarding a request to its answer;
//   - gatehouse_audit_write_seconds: time from submitting an audit record to it being durable.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total", Help: "Decided requests by method, effect applied, and reason code of a refusal.",
		}, []string{"method", "effect", "code"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_upstream_seconds", Help: "Time from forwarding a request to the upstream's answer.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 14),
		}, []string{"upstream"}),
		audit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatehouse_audit_write_seconds", Help: "Time from submitting an audit record to it being durable.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 14),
		}),
	}
	reg.MustRegister(m.requests, m.upstream, m.audit)
	return m
}

func (m *Metrics) request(method, effect, code string) {
	if m != nil {
		m.requests.WithLabelValues(method, effect, code).Inc()
	}
}

func (m *Metrics) upstreamTime(name string, d time.Duration) {
	if m != nil && d > 0 {
		m.upstream.WithLabelValues(name).Observe(d.Seconds())
	}
}

func (m *Metrics) auditTime(d time.Duration) {
	if m != nil {
		m.audit.Observe(d.Seconds())
	}
}
