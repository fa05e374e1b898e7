package cli

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// usr1Reason is the reason of the kill SIGUSR1 makes.
const usr1Reason = "SIGUSR1 from an operator"

// killOnUSR1 kills every scope ("all") each time gatehouse gets SIGUSR1, until ctx ends (SPEC
// §10.4): an emergency stop that needs no admin listener. It is registered before serving starts,
// like SIGHUP's handler, since an unhandled SIGUSR1 would end the process. The kill is audited; one
// that cannot be audited stays in force all the same (an emergency stop is never undone for want of
// a record) and is logged at ERROR.
func killOnUSR1(ctx context.Context, store state.Store, rec *audit.Recorder, logger *slog.Logger, lift string) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
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
