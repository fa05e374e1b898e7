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

func TestKillFile(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	auditPath, kf := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "KILL")
	w, err := auditlog.Open(auditlog.Options{Path: auditPath, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	store := state.NewMemory(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	os.WriteFile(kf, []byte("agent:a # looping\n\n"), 0o644)
	watchKillFile(ctx, kf, 5*time.Millisecond, store, audit.NewRecorder(w, "enforce", logger), logger)
	scopes := func() string {
		kills, _ := store.Kills(ctx)
		var s []string
		for _, k := range kills {
			s = append(s, k.Scope)
		}
		return strings.Join(s, ",")
	}
	// Killed before watchKillFile returns: a file present at start-up stops the first request.
	if got := scopes(); got != "agent:a" {
		t.Fatalf("at start-up: %q, want agent:a", got)
	}
	waitFor := func(what, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for scopes() != want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := scopes(); got != want {
			t.Fatalf("%s: killed %q, want %q", what, got, want)
		}
	}
	os.WriteFile(kf, []byte("tenant:t\n"), 0o644)
	waitFor("the file names another scope", "tenant:t")
	store.Kill(ctx, "tenant:t", "operator's own kill")
	os.Remove(kf)
	time.Sleep(50 * time.Millisecond)
	waitFor("an operator's kill outlives the file", "tenant:t")
	store.Lift(ctx, "tenant:t")
	os.WriteFile(kf, []byte("not a scope\n"), 0o644)
	waitFor("an invalid line", "all")
	os.Remove(kf)
	waitFor("the file removed", "")
	os.WriteFile(kf, nil, 0o644)
	waitFor("an empty file", "all")
	os.Remove(kf)
	waitFor("the empty file removed", "")
	cancel()

	// The last lift's record may still be on its way when the lift is seen.
	var data []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if data, _ = os.ReadFile(auditPath); strings.Count(string(data), `"method":"sentinel/kills.lift"`) >= 3 {
			break
		}
	}
	if n := strings.Count(string(data), `"method":"sentinel/kills.kill"`); n != 4 {
		t.Errorf("audited kills: %d, want 4", n)
	}
	if n := strings.Count(string(data), `"method":"sentinel/kills.lift"`); n != 3 {
		t.Errorf("audited lifts: %d, want 3 (the operator's kill is theirs)", n)
	}
}
