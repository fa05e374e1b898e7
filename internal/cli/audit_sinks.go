package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/gatehouse-mcp/gatehouse/internal/auditsink"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// sinkCloseTimeout bounds the delivery of what the sinks still hold at shutdown.
const sinkCloseTimeout = 5 * time.Second

// auditSinks are the audit log's SIEM sinks (SPEC §12.5).
type auditSinks []*auditsink.Sink

// newAuditSinks starts the sinks of audit.sinks: stdout and stderr write to out and errOut. With reg,
// each sink's counts are metrics. Close them after the audit log.
func newAuditSinks(cs []config.SinkConfig, out, errOut io.Writer, getenv func(string) string, reg prometheus.Registerer, logger *slog.Logger) (auditSinks, error) {
	var sinks auditSinks
	for i, c := range cs {
		d, err := sinkDeliverer(c, i, out, errOut, getenv, logger)
		if err != nil {
			sinks.Close()
			return nil, err
		}
		o := auditsink.Options{Name: c.SinkName(), Deliverer: d, BatchRecords: c.BatchRecords,
			FlushInterval: c.FlushInterval.D(), QueueBytes: c.QueueMB << 20, Logger: logger}
		s := auditsink.New(o)
		sinks = append(sinks, s)
		if reg != nil {
			registerSinkMetrics(reg, s)
		}
		var host string // not the whole URL: its path or query may hold a receiver's token
		if u, err := url.Parse(c.URL); err == nil {
			host = u.Host
		}
		logger.Info("audit log exported", "sink", s.Name(), "type", c.Type, "host", host, "signed", c.SecretEnv != "" || c.SecretFile != "")
	}
	return sinks, nil
}

func sinkDeliverer(c config.SinkConfig, i int, out, errOut io.Writer, getenv func(string) string, logger *slog.Logger) (auditsink.Deliverer, error) {
	switch c.Type {
	case "stdout":
		return auditsink.Stream{W: out}, nil
	case "stderr":
		return auditsink.Stream{W: errOut}, nil
	}
	key := fmt.Sprintf("audit.sinks[%d].", i)
	secret, err := readSecret(key+"secret", c.SecretEnv, c.SecretFile, "sink secret", getenv)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	if c.AuthHeader != "" {
		v, err := readSecret(key+"auth", c.AuthEnv, c.AuthFile, "sink credential", getenv)
		if err != nil {
			return nil, err
		}
		if !httpguts.ValidHeaderFieldValue(string(v)) {
			return nil, fmt.Errorf("%sauth: the value of %s holds a character a header cannot carry (a control character or line break)", key, c.AuthHeader)
		}
		header.Set(c.AuthHeader, string(v))
	}
	if u, err := url.Parse(c.URL); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		logger.Warn("audit sink posts over plain http to a host that is not this machine: the records, and any credential header, travel unencrypted",
			"sink", c.SinkName(), "host", u.Host)
	}
	timeout := c.Timeout.D()
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return &auditsink.Webhook{URL: c.URL, Secret: secret, Header: header, Client: webhook.Client(timeout)}, nil
}

func loopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// Export hands lines to every sink; it is the audit writer's Options.Export.
func (ss auditSinks) Export(lines []byte) {
	for _, s := range ss {
		s.Export(lines)
	}
}

// Close delivers what the sinks hold, for at most sinkCloseTimeout together, and stops them.
func (ss auditSinks) Close() {
	done := make(chan struct{})
	for _, s := range ss {
		go func() {
			s.Close(sinkCloseTimeout)
			done <- struct{}{}
		}()
	}
	for range ss {
		<-done
	}
}

func registerSinkMetrics(reg prometheus.Registerer, s *auditsink.Sink) {
	labels := prometheus.Labels{"sink": s.Name()}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_audit_sink_sent_lines_total",
			Help: "Lines of the audit log a SIEM sink delivered.", ConstLabels: labels},
			func() float64 { return float64(s.Stats().Sent) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_audit_sink_dropped_lines_total",
			Help: "Lines of the audit log a SIEM sink never delivered: its queue was full, the receiver refused them, or shutdown came first. They are in the local audit log.", ConstLabels: labels},
			func() float64 { return float64(s.Stats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_audit_sink_failures_total",
			Help: "Delivery attempts of a SIEM sink that failed.", ConstLabels: labels},
			func() float64 { return float64(s.Stats().Failures) }),
	)
}
