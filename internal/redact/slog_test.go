package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type loginConfig struct {
	User     string
	Password string
	Retries  int
}

type secretValuer struct{}

func (secretValuer) LogValue() slog.Value { return slog.StringValue("resolved AKIAIOSFODNN7EXAMPLE") }

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("api_key", "k-with", slog.Group("db", "dsn", "postgres://app:pw@db/app"))
	log.Info("connecting with Bearer abcdefgh12345678",
		"user", "alice",
		"password", "hunter2",
		"count", 3,
		"pan", 4111111111111111,
		"err", errors.New("auth failed for token=abc123"),
		"cfg", loginConfig{User: "bob", Password: "pw-in-struct", Retries: 2},
		"args", map[string]any{"note": "ghp_4Ff9kLmN0pQrS7tUvWxYz1A2b3C4d5E6f7G8", "ok": true},
		"raw", json.RawMessage(`{"session_id":"s-1","n":1}`),
		"valuer", secretValuer{},
		slog.Group("credentials", "user", "u", "pass", "p"),
		"verified", true,
	)
	log.WithGroup("auth").Info("inside a sensitive group", "anything", "x", "n", 1)

	out := buf.String()
	for _, secret := range []string{"k-with", "app:pw", "abcdefgh12345678", "hunter2", "4111111111111111", "abc123",
		"pw-in-struct", "ghp_4Ff9", `"s-1"`, "AKIAIOSFODNN7EXAMPLE", `"anything":"x"`} {
		if strings.Contains(out, secret) {
			t.Errorf("log output contains %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, lines[0])
	}
	checks := map[string]any{
		"msg":      "connecting with Bearer [REDACTED_TOKEN]",
		"user":     "alice",
		"password": "[REDACTED]",
		"api_key":  "[REDACTED]",
		"count":    float64(3),
		"pan":      "[REDACTED_CARD]",
		"err":      "auth failed for token=[REDACTED]",
		"valuer":   "resolved [REDACTED_API_KEY]",
		"verified": true,
	}
	for k, want := range checks {
		if got := first[k]; got != want {
			t.Errorf("%s: got %v, want %v", k, got, want)
		}
	}
	if cfg, _ := first["cfg"].(map[string]any); cfg["User"] != "bob" || cfg["Password"] != "[REDACTED]" || cfg["Retries"] != float64(2) {
		t.Errorf("cfg: got %v, want the struct as JSON with Password redacted", first["cfg"])
	}
	if db, _ := first["db"].(map[string]any); db["dsn"] != "postgres://[REDACTED_URL_CREDENTIALS]@db/app" {
		t.Errorf("db group: got %v", first["db"])
	}
	if first["credentials"] == nil {
		t.Error("credentials group missing")
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if g, _ := second["auth"].(map[string]any); g["anything"] != "[REDACTED]" || g["n"] != "[REDACTED]" {
		t.Errorf("sensitive group: got %v, want every value redacted", second["auth"])
	}
}

func TestHandlerText(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil)))
	log.Warn("x", "token", "t0k3n", "raw", json.RawMessage(`{"password":"p"}`))
	if out := buf.String(); strings.Contains(out, "t0k3n") || strings.Contains(out, `"p"`) || !strings.Contains(out, "token=[REDACTED]") {
		t.Errorf("text handler output: %s", out)
	}
}

func TestHandlerEnabled(t *testing.T) {
	h := NewHandler(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(t.Context(), slog.LevelInfo) || !h.Enabled(t.Context(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler")
	}
}
