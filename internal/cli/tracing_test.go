package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
)

func TestStartTracing(t *testing.T) {
	base := config.Default().Tracing
	env := map[string]string{"OTLP_AUTH": "Bearer tr4ce-s3cret", "OTLP_BAD": "a\nb"}
	getenv := func(k string) string { return env[k] }
	start := func(c config.TracingConfig) (bool, string, error) {
		var logs bytes.Buffer
		tr, err := startTracing(context.Background(), c, "pipe", getenv, slog.New(slog.NewJSONHandler(&logs, nil)))
		if tr != nil {
			stopTracing(tr, slog.New(slog.NewJSONHandler(&logs, nil)))
		}
		return tr != nil, logs.String(), err
	}

	if on, _, err := start(base); on || err != nil {
		t.Errorf("tracing off by default started a tracer: %v %v", on, err)
	}
	c := base
	c.Enabled, c.AuthHeader, c.AuthEnv = true, "Authorization", "OTLP_UNSET"
	if _, _, err := start(c); err == nil || !strings.Contains(err.Error(), "tracing.auth_env: $OTLP_UNSET is not set") {
		t.Errorf("unset credential: %v", err)
	}
	c.AuthEnv = "OTLP_BAD"
	if _, _, err := start(c); err == nil || !strings.Contains(err.Error(), "cannot carry") {
		t.Errorf("credential with a line break: %v", err)
	}
	c.AuthEnv, c.Endpoint = "OTLP_AUTH", "http://collector.example:4318"
	on, logs, err := start(c)
	if !on || err != nil {
		t.Fatalf("tracing did not start: %v", err)
	}
	if !strings.Contains(logs, "travel unencrypted") || !strings.Contains(logs, `"authenticated":true`) {
		t.Errorf("logs lack the plain-http warning or the start line:\n%s", logs)
	}
	if strings.Contains(logs, "tr4ce-s3cret") {
		t.Errorf("the collector's credential is in the log:\n%s", logs)
	}
	c.Endpoint = ""
	if _, logs, _ := start(c); strings.Contains(logs, "unencrypted") || !strings.Contains(logs, `"host":"127.0.0.1:4318"`) {
		t.Errorf("the default endpoint is not this machine's 4318:\n%s", logs)
	}
	c.Protocol = "grpc"
	if _, logs, _ := start(c); !strings.Contains(logs, `"host":"127.0.0.1:4317"`) {
		t.Errorf("the default grpc endpoint is not this machine's 4317:\n%s", logs)
	}
}

// An exporter's error names the collector's URL, whose path may hold a token, and may quote the
// collector's answer: neither reaches the log as it was.
func TestExportErrorIsLoggedSafely(t *testing.T) {
	err := errors.New(`failed to send to https://collector.example:4318/v1/traces/tok-PATHSECRET: 401 Unauthorized (body: bad credential: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl)` + strings.Repeat(" more", 200))
	got := exportError(err)
	for _, leak := range []string{"PATHSECRET", "eyJhbGciOiJIUzI1NiJ9"} {
		if strings.Contains(got, leak) {
			t.Errorf("the logged error holds %q: %s", leak, got)
		}
	}
	if !strings.Contains(got, "https://collector.example:4318/") || !strings.Contains(got, "401 Unauthorized") || len(got) > 310 {
		t.Errorf("logged error %q: want the host, the status, and at most ~300 bytes", got)
	}
}
