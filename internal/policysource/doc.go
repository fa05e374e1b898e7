// Package policysource brings Rego bundles to the embedded engine (SPEC §5.4, §5.5): it reads a bundle
// from a directory, a .tar.gz file or an HTTP(S) URL, checks its integrity (an optional pinned SHA-256
// of the bundle file, and OPA bundle signatures against a configured public key), compiles it into a
// rego.Decider, and hands the ready decider to a callback, which swaps it into the engine stage.
//
// It exists so that the decider can stay pure: package rego never touches a file, a socket or a clock,
// and this package does all of that, off the request path. A reload (at start-up, on SIGHUP through
// Load, or when the poll loop in Run sees the file or the URL's ETag change) reads, verifies and
// compiles the new bundle completely before the swap; requests in flight finish on the old decider and
// the next one uses the new. A bundle that fails to read, verify or compile is refused: the decider in
// force stays, the failure is logged at ERROR, counted in gatehouse_policy_bundle_reloads_total{result=
// "refused"}, and kept as the source's last error for /readyz.
//
// Bundles are OPA's own format, read by OPA's own bundle reader, so a bundle built by `opa build` (or
// `gatehouse bundle build`, which uses OPA's compile package) loads unchanged.
package policysource
