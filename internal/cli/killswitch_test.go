package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// killSwitchSetup returns an audit recorder writing to a fresh log (and its path), an empty state
// store, and a context ended with the test.
func killSwitchSetup(t *testing.T) (*audit.Recorder, string, *state.Memory, context.Context, *slog.Logger) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: path, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return audit.NewRecorder(w, "enforce", logger), path, state.NewMemory(nil), ctx, logger
}

func TestSIGUSR1KillsEverythingAndIsAudited(t *testing.T) {
	rec, path, store, ctx, logger := killSwitchSetup(t)
	usr1 := notifyUSR1()
	defer signal.Stop(usr1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1) // before killOnUSR1 runs, as during start-up: kept
	time.Sleep(20 * time.Millisecond)
	killOnUSR1(ctx, usr1, store, rec, logger, "test")

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
	rec, auditPath, store, ctx, logger := killSwitchSetup(t)
	ctx, cancel := context.WithCancel(ctx)
	kf := filepath.Join(t.TempDir(), "KILL")
	os.WriteFile(kf, []byte("agent:a # looping\n\n"), 0o644)
	watchKillFile(ctx, kf, 5*time.Millisecond, store, rec, logger)
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

// The file never takes over another's kill, so removing it cannot lift one; a kill of the file's
// lifted through the API comes back while the file names it; a path that exists but is not a
// readable regular file kills all.
func TestKillFileLeavesOthersKills(t *testing.T) {
	rec, _, store, ctx, logger := killSwitchSetup(t)
	dir := t.TempDir()
	kf := filepath.Join(dir, "STOP")
	store.Kill(ctx, "all", usr1Reason)
	store.Kill(ctx, "agent:a", "operator")
	watchKillFile(ctx, kf, 5*time.Millisecond, store, rec, logger)
	reason := func(scope string) string { _, r, _ := store.Killed(ctx, scope); return r }
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if !ok() {
			t.Fatalf("%s: all %q, agent:a %q, tenant:t %q", what, reason("all"), reason("agent:a"), reason("tenant:t"))
		}
	}

	os.WriteFile(kf, []byte("all\nagent:a\ntenant:t\n"), 0o644)
	eventually("the file's own scope", func() bool { return reason("tenant:t") == killFileReason(kf) })
	time.Sleep(30 * time.Millisecond)
	if reason("all") != usr1Reason || reason("agent:a") != "operator" {
		t.Errorf("the file took over kills it did not make: all %q, agent:a %q", reason("all"), reason("agent:a"))
	}
	store.Lift(ctx, "tenant:t") // through the API, while the file names it
	eventually("the file kills again what it names", func() bool { return reason("tenant:t") == killFileReason(kf) })
	os.Remove(kf)
	eventually("the file's kill lifted", func() bool { return reason("tenant:t") == "" })
	if reason("all") != usr1Reason || reason("agent:a") != "operator" {
		t.Errorf("removing the file lifted kills it did not make: all %q, agent:a %q", reason("all"), reason("agent:a"))
	}

	store.Lift(ctx, "all")
	os.Symlink(filepath.Join(dir, "nowhere"), kf)
	eventually("a dangling link", func() bool { return reason("all") == killFileReason(kf) })
	os.Remove(kf)
	eventually("the link removed", func() bool { return reason("all") == "" })
	os.Mkdir(kf, 0o755)
	eventually("a directory", func() bool { return reason("all") == killFileReason(kf) })
}

// The kill file and the admin API's scopes are an operator's input: whatever the bytes, the file
// names at least one scope and only valid ones, and an invalid line turns it into "all".
func FuzzKillFileScopes(f *testing.F) {
	for _, seed := range []string{"", "all\n", "agent:a # why\n\ntenant:t", "run:\x00", "agent:\xff", "session:" + strings.Repeat("s", 600), "# only a comment\n", "user:x\nagent:a"} {
		f.Add([]byte(seed))
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		scopes := killFileScopes(data, nil, logger, "KILL")
		if len(scopes) == 0 {
			t.Fatal("no scope named")
		}
		for _, s := range scopes {
			if err := kill.ValidScope(s); err != nil {
				t.Fatalf("invalid scope %q returned: %v", s, err)
			}
			if strings.ContainsAny(s, "#\n") || s != strings.TrimSpace(s) {
				t.Fatalf("scope %q keeps a comment or spaces", s)
			}
		}
	})
}
