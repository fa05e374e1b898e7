package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the authentication metrics (listed in README.md).
type metrics struct {
	requests  *prometheus.CounterVec
	refreshes *prometheus.CounterVec
}

// The method label values of gatehouse_auth_requests_total.
const (
	methodJWT       = "jwt"
	methodAPIKey    = "api_key"
	methodAnonymous = "anonymous"
	methodNone      = "none" // no credential was presented
)

// The result label values of gatehouse_auth_jwks_refreshes_total.
const (
	refreshOK          = "ok"
	refreshError       = "error"
	refreshRateLimited = "rate_limited"
)

// newMetrics registers the metrics with reg (nil: not registered, still counted). A second
// Authenticator on the same registry, as after a configuration reload, shares the first one's
// collectors instead of failing.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_auth_requests_total",
			Help: "Client authentications, by method (jwt, api_key, anonymous, none) and result (ok, missing, invalid, expired, insufficient_scope, bad_request, unavailable).",
		}, []string{"method", "result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_auth_jwks_refreshes_total",
			Help: "JWKS fetches, by result (ok, error, rate_limited: a fetch was wanted but the minimum interval had not passed).",
		}, []string{"result"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.refreshes = register(reg, m.refreshes)
	}
	return m
}

func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err) // a conflicting metric of the same name: a programming error
	}
	return c
}

func (m *metrics) request(method, result string) {
	m.requests.WithLabelValues(method, result).Inc()
}

func (m *metrics) refresh(result string) {
	m.refreshes.WithLabelValues(result).Inc()
}
