package approval

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// Metrics are the approval stage's metrics.
type Metrics struct {
	pending *pendingCollector
	wait    prometheus.Gauge
}

// NewMetrics registers the stage's metrics with reg:
//   - gatehouse_approvals_pending: approvals pending a human decision, read from the approval state
//     (shared by every replica with Redis) when scraped (SPEC §13.2);
//   - gatehouse_approvals_waiting: held calls of this process whose clients are waiting for a decision.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		pending: &pendingCollector{desc: prometheus.NewDesc("gatehouse_approvals_pending", "Approvals pending a human decision.", nil, nil)},
		wait: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_approvals_waiting",
			Help: "Held calls of this process whose clients are waiting for an approval decision.",
		}),
	}
	reg.MustRegister(m.pending, m.wait)
	return m
}

// source sets the store the pending approvals are counted in.
func (m *Metrics) source(s state.ApprovalStore) {
	if m != nil {
		m.pending.store.Store(&s)
	}
}

func (m *Metrics) waiting(d float64) {
	if m != nil {
		m.wait.Add(d)
	}
}

// pendingCollector counts the pending approvals when scraped. With no store yet (before the stage is
// built) it reports 0; when the store cannot be read it reports nothing, rather than a false 0.
type pendingCollector struct {
	desc  *prometheus.Desc
	store atomic.Pointer[state.ApprovalStore]
}

func (p *pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	n := 0
	if s := p.store.Load(); s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		all, err := (*s).Approvals(ctx)
		if err != nil {
			return
		}
		for _, a := range all {
			if a.Status == state.ApprovalPending {
				n++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(n))
}
