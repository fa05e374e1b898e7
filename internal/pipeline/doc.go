// Package pipeline is the spine of gatehouse: a Call travels through an ordered chain of stages, each
// of which may refuse it, enrich it, or add an engine's verdict, and leaves with one Decision.
//
// The shape follows CoreDNS's plugin chain: a stage is a small package with Name and Handle, and
// Handle receives the call and next. A stage that refuses simply does not call next, so nothing after
// it runs and nothing after it can accidentally let the call through. The order of stages is declared
// once, in package gateway, because the order is the security model.
//
// Policy engines do not short-circuit: every engine adds its Verdict and calls next, and the Decide
// stage combines them by the rule of SPEC §3.3 (kill beats deny beats hold beats rewrite beats allow).
// That is what lets monitor mode compute every decision while applying none, and lets the audit record
// say which engine decided.
package pipeline
