package cli

import (
	"io"
	"log/slog"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/redact"
)

// newLogger builds the process logger. It always writes to stderr (w): in `gatehouse run`, stdout is
// the MCP channel and must carry nothing else. Every attribute passes through secret redaction
// (SPEC §8.6): a token or password that reaches a log line is masked before it is written.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(redact.NewHandler(h))
}
