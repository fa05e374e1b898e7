package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// usr1Reason is the reason of the kill SIGUSR1 makes.
const usr1Reason = "SIGUSR1 from an operator"

// notifyUSR1 starts catching SIGUSR1, first thing at start-up: Go ignores a SIGUSR1 nothing is
// registered for, and an emergency stop sent while gatehouse starts must not be lost. The channel
// holds it until killOnUSR1 runs.
func notifyUSR1() chan os.Signal {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	return usr1
}

// killOnUSR1 kills every scope ("all") each time usr1 (notifyUSR1) delivers SIGUSR1, until ctx ends
// (SPEC §10.4): an emergency stop that needs no admin listener. The kill is audited; one that cannot
// be audited stays in force all the same (an emergency stop is never undone for want of a record)
// and is logged at ERROR.
func killOnUSR1(ctx context.Context, usr1 chan os.Signal, store state.Store, rec *audit.Recorder, logger *slog.Logger, lift string) {
	go func() {
		defer signal.Stop(usr1)
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
			}
			if err := store.Kill(context.Background(), "all", usr1Reason); err != nil {
				logger.Error("SIGUSR1: the kill could not be saved", "error", err)
				continue
			}
			logger.Warn("every scope killed (SIGUSR1): every request is refused session_killed", "lift", lift)
			err := rec.Event("sig_"+rand.Text(), audit.Event{Method: "signal/kills.kill", Engine: "operator", Effect: "allow",
				Status: "applied", User: "operator", Args: []byte(`{"scope":"all"}`), Detail: "killed all: " + usr1Reason}).Wait()
			if err != nil {
				logger.Error("SIGUSR1: the kill is in force but could not be audited", "error", err)
			}
		}
	}()
}

// killFileReason is the reason of the kills a sentinel file makes; a kill with another reason (an
// operator's) is not lifted when the file goes.
func killFileReason(path string) string { return "sentinel file " + path }

// maxKillFile bounds what is read of a sentinel file; a larger one kills everything.
const maxKillFile = 64 << 10

// readKillFile reads at most maxKillFile+1 bytes of a regular file. It is opened without waiting
// (a FIFO would block the poll) and checked once open; a path that exists as anything else (a
// dangling link, a directory) is an error, not an absent file.
func readKillFile(path string) ([]byte, error) {
	if _, err := os.Lstat(path); err != nil {
		return nil, err // absent: fs.ErrNotExist
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s exists but cannot be opened: %w", path, errors.Join(err, errUnreadable))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", path, errUnreadable)
	}
	return io.ReadAll(io.LimitReader(f, maxKillFile+1))
}

// errUnreadable marks a kill file that exists but cannot be read as one (which kills all).
var errUnreadable = errors.New("unreadable kill file")

// killFileScopes reads the scopes a sentinel file names: one per line, '#' starting a comment. An
// empty file names "all"; so does one that cannot be read whole or names an invalid scope, which is
// logged (a stop must not fail open on a typo).
func killFileScopes(data []byte, readErr error, logger *slog.Logger, path string) []string {
	if readErr != nil || len(data) > maxKillFile {
		logger.Error("kill file unreadable or over 64 KiB: killing all", "file", path, "error", readErr)
		return []string{"all"}
	}
	var scopes []string
	for line := range strings.Lines(string(data)) {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := kill.ValidScope(line); err != nil {
			logger.Error("kill file names an invalid scope: killing all", "file", path, "error", err)
			return []string{"all"}
		}
		scopes = append(scopes, line)
	}
	if len(scopes) == 0 {
		return []string{"all"}
	}
	return scopes
}

// watchKillFile polls path every interval until ctx ends (SPEC §10.4): while the file exists, the
// scopes it names are killed (again, if lifted meanwhile: the file is the switch); when it goes, or
// stops naming one, the file's kill of it is lifted. A scope already killed for another reason (an
// operator's, a decision's, SIGUSR1's) is left to that kill: the file neither takes it over nor
// lifts it. Each kill and lift is audited.
func watchKillFile(ctx context.Context, path string, every time.Duration, store state.Store, rec *audit.Recorder, logger *slog.Logger) {
	if path == "" {
		return
	}
	reason := killFileReason(path)
	held := map[string]bool{} // scopes this file killed
	record := func(action, scope string) {
		args, _ := json.Marshal(map[string]string{"scope": scope})
		err := rec.Event("sen_"+rand.Text(), audit.Event{Method: "sentinel/kills." + action, Engine: "operator", Effect: "allow",
			Status: "applied", User: "operator", Args: args, Detail: action + " " + scope + ": " + reason}).Wait()
		if err != nil {
			logger.Error("kill file: the change is in force but could not be audited", "action", action, "scope", scope, "error", err)
		}
	}
	poll := func() {
		want := map[string]bool{}
		data, err := readKillFile(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || errors.Is(err, errUnreadable) {
			for _, s := range killFileScopes(data, err, logger, path) {
				want[s] = true
			}
		}
		for s := range want {
			killed, why, err := store.Killed(context.Background(), s)
			if err != nil {
				logger.Error("kill file: the kill state cannot be read", "scope", s, "error", err)
				continue
			}
			if killed != "" {
				held[s] = why == reason // another's kill stays theirs
				continue
			}
			if err := store.Kill(context.Background(), s, reason); err != nil {
				logger.Error("kill file: the kill could not be saved", "scope", s, "error", err)
				continue
			}
			held[s] = true
			logger.Warn("scope killed by the kill file", "file", path, "scope", s)
			record("kill", s)
		}
		for s := range held {
			if want[s] {
				continue
			}
			ours := held[s]
			delete(held, s)
			if !ours {
				continue
			}
			if _, why, err := store.Killed(context.Background(), s); err != nil || why != reason {
				continue // lifted or re-killed by an operator meanwhile: theirs to lift
			}
			if _, err := store.Lift(context.Background(), s); err != nil {
				logger.Error("kill file: the lift could not be saved", "scope", s, "error", err)
				held[s] = true
				continue
			}
			logger.Warn("kill lifted: the kill file no longer names it", "file", path, "scope", s)
			record("lift", s)
		}
	}
	poll() // before serving starts: a file present at start-up stops the first request
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				poll()
			}
		}
	}()
}
