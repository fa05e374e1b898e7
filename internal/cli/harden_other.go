//go:build !linux

package cli

// hideProcess is a no-op where PR_SET_DUMPABLE does not exist.
func hideProcess() error { return nil }
