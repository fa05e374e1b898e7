// Package threat is gatehouse's threat scanner (SPEC §9): a deterministic, network-free heuristic that
// reads tool arguments, tool results and tool definitions for prompt injection, command injection,
// secret exfiltration, path traversal, suspicious URLs and tool poisoning, and explains every hit.
//
// It exists so that policies can ask for a human when a call looks like an attack, without gatehouse
// pretending to know. A scan returns findings (rule id, category, weight, and where it matched as a
// JSON path and byte offset) and a score in [0, 1) that rules read through min_threat_score and Rego
// through input.threat. The score is evidence for an approval, not a verdict: the shipped example
// policy sends hits to require_approval, never to deny, and the labelled corpus under
// testdata/corpus measures how often it is wrong.
//
// Text is normalized before matching (compatibility decomposition, combining marks, zero-width and
// bidi characters and tag characters handled, case folded, Cyrillic and Greek look-alikes mapped to
// Latin, leetspeak read) into two views, and each view is read once by an Aho-Corasick automaton
// compiled from the keyword tables. Keyword hits that need context (a URL's host, a path's depth, a
// token's length) trigger small bounded checks; base64 and percent-encoded spans are decoded and
// scanned as further layers within a fixed budget. There are no regular expressions, so the cost is
// linear in the input and a 10 KB payload is scanned in tens of microseconds.
//
// The package is a pure decider: no I/O, no clock, no randomness, no state between calls. The
// Classifier interface lets an operator add an external model; calling it is the threat stage's job.
package threat
