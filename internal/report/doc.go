// Package report turns audit logs into compliance evidence (SPEC §12.4): an integrity attestation,
// who did what (per agent and per tenant), how it was decided (by effect, rule, reason code), threat
// and approval rollups, and the mapping of gatehouse's controls to the NIST AI RMF, the OWASP Top 10
// for Agentic Applications 2026 and the NCCoE agent identity and authorization concerns, each with
// the evidence this log holds for it.
//
// It exists because an audit log proves things only to someone who reads it. An auditor should not
// have to learn the record schema to answer "was every call attributed?", "what was refused, and
// why?" or "which framework items does this deployment address?"; the report answers them from the
// log alone, with the same verifier as gatehouse verify, and says so prominently when the log is not
// intact (the statistics of a tampered log are not evidence of anything).
//
// The package reads only audit files, through package auditlog (Verify for the attestation,
// ParseLine for the records), and never the gateway: a report can be produced anywhere the files
// and, optionally, the public key are. Output is deterministic for a given input — sorted keys, no
// clock, no host names — so a report can be diffed, signed and pinned by golden tests. The same
// document renders as CommonMark with GFM tables and as one self-contained HTML5 file.
package report
