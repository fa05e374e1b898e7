package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitProblem = 1
	ExitUsage   = 2
	ExitRuntime = 3
)

// exitError carries an exit code out of a cobra RunE.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// streams are the standard streams a command uses, replaceable in tests.
type streams struct {
	in       io.Reader
	out, err io.Writer
	env      []string
}

// Main runs gatehouse with args (without the program name) and returns the exit code.
func Main(args []string) int {
	return run(args, streams{in: os.Stdin, out: os.Stdout, err: os.Stderr, env: os.Environ()})
}

func run(args []string, s streams) int {
	root := newRoot(s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err.Error() != "" {
			fmt.Fprintln(s.err, "gatehouse:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors are usage errors: unknown flags, wrong argument counts.
	fmt.Fprintln(s.err, "gatehouse:", err)
	return ExitUsage
}

func newRoot(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "A policy-enforcing gateway for the Model Context Protocol",
		Long: `gatehouse stands between MCP clients (agents) and MCP servers (tools). Every request is decided
by policy (allow, deny, rewrite, redact, hold for a human, kill the session) and every decision is
written to a hash-chained, fsync'd audit log that 'gatehouse verify' can prove intact.

Start with 'gatehouse run --help' to wrap a stdio MCP server.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.AddCommand(
		newRunCommand(s),
		newServeCommand(s),
		newCheckCommand(s),
		newEvalCommand(s),
		newVerifyCommand(s),
		newKeygenCommand(s),
		newVersionCommand(s),
		newTokenCommand(s),
		newReportCommand(s),
		newControlsCommand(s),
		newTestCommand(s),
		newBundleCommand(s),
		newPackCommand(s),
		newApprovalsCommand(s),
		newReplayCommand(s),
		newProbeCommand(s),
	)
	return root
}
