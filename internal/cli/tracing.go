package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
	"github.com/gatehouse-mcp/gatehouse/internal/tracing"
)

// tracingShutdownTimeout bounds the export of the spans still queued at shutdown.
const tracingShutdownTimeout = 5 * time.Second

// startTracing builds the tracer of tracing.* for the downstream transport ("pipe" or "tcp"); nil
// when tracing is off. Shut it down after the audit log is closed, so the spans of the last calls,
// which end when their records are durable, are exported too.
func startTracing(ctx context.Context, c config.TracingConfig, transport string, getenv func(string) string, logger *slog.Logger) (*tracing.Tracer, error) {
	if !c.Enabled {
		return nil, nil
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "http://127.0.0.1:4318"
		if c.Protocol == tracing.ProtocolGRPC {
			endpoint = "http://127.0.0.1:4317"
		}
	}
	headers := map[string]string{}
	if c.AuthHeader != "" {
		v, err := readSecret("tracing.auth", c.AuthEnv, c.AuthFile, "tracing credential", getenv)
		if err != nil {
			return nil, err
		}
		if !httpguts.ValidHeaderFieldValue(string(v)) {
			return nil, fmt.Errorf("tracing.auth: the value of %s holds a character a header cannot carry (a control character or line break)", c.AuthHeader)
		}
		headers[c.AuthHeader] = string(v)
	}
	var host string // not the whole URL: its path may hold a token
	if u, err := url.Parse(endpoint); err == nil {
		host = u.Host
		if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			logger.Warn("traces are exported over plain http to a host that is not this machine: the spans, and any credential header, travel unencrypted", "host", host)
		}
	}
	t, err := tracing.New(ctx, tracing.Config{Endpoint: endpoint, Protocol: c.Protocol, Headers: headers, CAFile: c.CAFile,
		SampleRatio: c.SampleRatio, AcceptParent: c.AcceptParent, Propagate: c.Propagate,
		ServiceName: c.ServiceName, ServiceVersion: Version(), Timeout: c.Timeout.D(),
		OnError: func(err error) { logger.Warn("trace export failed", "error", exportError(err)) }})
	if err != nil {
		return nil, err
	}
	logger.Info("tracing on", "protocol", c.Protocol, "host", host, "sample_ratio", c.SampleRatio,
		"accept_parent", c.AcceptParent, "propagate", c.Propagate, "authenticated", c.AuthHeader != "")
	return t.ForTransport(transport), nil
}

// urlRE finds the URLs in an exporter's error.
var urlRE = regexp.MustCompile(`https?://[^\s"']+`)

// exportError is an exporter's error as it may be logged: its URLs cut to scheme and host (a
// collector's path may hold a token), what it quotes of the collector's answer redacted, and the
// whole bounded.
func exportError(err error) string {
	msg := urlRE.ReplaceAllStringFunc(err.Error(), func(s string) string {
		if u, err := url.Parse(strings.TrimRight(s, ":,;)")); err == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host + "/…"
		}
		return "(a URL)"
	})
	msg = redact.Text(msg)
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "…"
	}
	return msg
}

// stopTracing exports what the tracer still holds, for at most tracingShutdownTimeout.
func stopTracing(t *tracing.Tracer, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		logger.Warn("the last spans could not be exported", "error", err)
	}
}
