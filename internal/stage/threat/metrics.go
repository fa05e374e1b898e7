package threat

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	scanner "github.com/gatehouse-mcp/gatehouse/internal/policy/threat"
)

// Metrics are the threat stage's metrics.
type Metrics struct {
	findingsTotal    *prometheus.CounterVec
	scanSeconds      *prometheus.HistogramVec
	refusals         *prometheus.CounterVec
	classifierErrors prometheus.Counter
	// scanByPhase holds scanSeconds' observer of each phase, looked up once.
	scanByPhase [2]prometheus.Observer
}

// NewMetrics registers the stage's metrics with reg:
//   - gatehouse_threat_findings_total{category}: findings reported, by category (SPEC §13.2);
//   - gatehouse_threat_scan_seconds{phase}: time to scan one message;
//   - gatehouse_threat_refusals_total{phase}: messages refused by the hard threshold;
//   - gatehouse_threat_classifier_errors_total: external classifier calls that failed or timed out.
//
// With a nil reg it returns nil, which keeps nothing: gatehouse run has no listener to serve metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		return nil
	}
	m := &Metrics{
		findingsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_threat_findings_total",
			Help: "Threat scanner findings, by category.",
		}, []string{"category"}),
		scanSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_threat_scan_seconds",
			Help: "Time taken to scan one message, by phase.",
			// Scans take microseconds; buckets from 1 µs to ~65 ms.
			Buckets: prometheus.ExponentialBuckets(1e-6, 2, 17),
		}, []string{"phase"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_threat_refusals_total",
			Help: "Messages refused with threat_detected by the stage's hard threshold, by phase.",
		}, []string{"phase"}),
		classifierErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_threat_classifier_errors_total",
			Help: "External threat classifier calls that failed or timed out.",
		}),
	}
	reg.MustRegister(m.findingsTotal, m.scanSeconds, m.refusals, m.classifierErrors)
	for i, phase := range []policy.Phase{policy.PhaseRequest, policy.PhaseResponse} {
		m.scanByPhase[i] = m.scanSeconds.WithLabelValues(string(phase))
	}
	// Every category is present from the start, so a dashboard shows zeros rather than gaps.
	for _, c := range scanner.Categories {
		m.findingsTotal.WithLabelValues(c)
	}
	return m
}

func (m *Metrics) observe(phase policy.Phase, d time.Duration) {
	switch {
	case m == nil:
	case phase == policy.PhaseRequest:
		m.scanByPhase[0].Observe(d.Seconds())
	case phase == policy.PhaseResponse:
		m.scanByPhase[1].Observe(d.Seconds())
	default:
		m.scanSeconds.WithLabelValues(string(phase)).Observe(d.Seconds())
	}
}

func (m *Metrics) findings(fs []policy.Finding) {
	if m == nil {
		return
	}
	for _, f := range fs {
		m.findingsTotal.WithLabelValues(f.Category).Inc()
	}
}

func (m *Metrics) refused(phase policy.Phase) {
	if m != nil {
		m.refusals.WithLabelValues(string(phase)).Inc()
	}
}

func (m *Metrics) classifierError() {
	if m != nil {
		m.classifierErrors.Inc()
	}
}
