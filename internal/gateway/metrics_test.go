package gateway

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsRegistered checks that the gateway registers the metrics of SPEC §13.2 it owns, and
// that method labels stay bounded.
func TestMetricsRegistered(t *testing.T) {
	if m := NewMetrics(nil); m != nil {
		t.Fatal("NewMetrics(nil) kept metrics; gatehouse run, which cannot serve them, must not pay for them")
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.killMetrics().Engines("rules")
	for _, method := range []string{"tools/call", "ping", "x/" + strings.Repeat("a", 10), "made/up"} {
		m.request(method, "allow", "")
	}
	for _, tt := range []struct {
		name string
		want int
	}{
		{"gatehouse_requests_total", 3}, // tools/call, ping, other
		{"gatehouse_sessions_killed_total", 1},
		{"gatehouse_approvals_pending", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := testutil.GatherAndCount(reg, tt.name)
			if err != nil || n != tt.want {
				t.Errorf("got %d series (%v), want %d", n, err, tt.want)
			}
		})
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("other", "allow", "")); got != 2 {
		t.Errorf("requests of unknown methods counted as other: %v, want 2", got)
	}
}
