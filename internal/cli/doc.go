// Package cli is gatehouse's command line. Each subcommand lives in its own file as a params struct
// and a function that does the work knowing nothing of the flag library, in the style of OPA's
// cmd package; the cobra wiring only fills the params. cmd/gatehouse calls Main and nothing else.
//
// Exit codes are part of the interface and documented in docs/cli.md: 0 success, 1 the command ran
// and found a problem (a policy that does not check, a log that does not verify, an eval that did not
// match --expect), 2 bad usage or configuration, 3 a runtime failure (the upstream could not start).
package cli
