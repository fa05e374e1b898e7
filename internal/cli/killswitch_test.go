package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

func TestSIGUSR1KillsEverythingAndIsAudited(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: path, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	store := state.NewMemory(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killOnUSR1(ctx, store, audit.NewRecorder(w, "enforce", logger), logger, "test")

	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if scope, reason, _ := store.Killed(ctx, "all"); scope == "all" && reason == usr1Reason {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if scope, _, _ := store.Killed(ctx, "agent:a", "all"); scope != "all" {
		t.Fatal("SIGUSR1 did not kill all")
	}
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(path); strings.Contains(string(data), `"method":"signal/kills.kill"`) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Error("the kill was not audited")
}
