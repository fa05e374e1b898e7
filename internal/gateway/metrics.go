package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
)

// Metrics are the gateway's own metrics (SPEC §13.2), and those of the stages the gateway builds
// itself (kill, approval); the engine stage owns the decision-latency histogram. Nil Metrics record
// nothing.
type Metrics struct {
	requests  *prometheus.CounterVec
	upstream  *prometheus.HistogramVec
	audit     prometheus.Histogram
	kills     *kill.Metrics
	approvals *approval.Metrics
}

// NewMetrics registers the gateway metrics with reg:
//   - gatehouse_requests_total{method,effect,code}: decided requests by outcome (methods gatehouse
//     does not know are counted as method "other");
//   - gatehouse_upstream_seconds{upstream}: time from forwarding a request to its answer;
//   - gatehouse_audit_write_seconds: time from submitting an audit record to it being durable;
//
// and those of the kill stage (gatehouse_sessions_killed_total{engine}) and the approval stage
// (gatehouse_approvals_pending).
//
// With a nil reg it returns nil, which keeps nothing: gatehouse run has no listener to serve metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
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
	m.kills, m.approvals = kill.NewMetrics(reg), approval.NewMetrics(reg)
	return m
}

// approvalMetrics are the approval stage's metrics, nil when m is.
func (m *Metrics) approvalMetrics() *approval.Metrics {
	if m == nil {
		return nil
	}
	return m.approvals
}

// killMetrics are the kill stage's metrics, nil when m is.
func (m *Metrics) killMetrics() *kill.Metrics {
	if m == nil {
		return nil
	}
	return m.kills
}

func (m *Metrics) request(method, effect, code string) {
	if m != nil {
		m.requests.WithLabelValues(methodLabel(method), effect, code).Inc()
	}
}

// methodLabel is the method label of gatehouse_requests_total: the method when gatehouse knows it,
// "other" for any other name, so that a client inventing method names cannot grow the series
// without bound.
func methodLabel(method string) string {
	switch {
	case mcp.Decided(method), method == mcp.MethodPing, method == mcp.MethodResourcesUnsubscribe, method == "logging/setLevel":
		return method
	}
	return "other"
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
