// Package redact removes secrets and personal data from everything gatehouse writes — audit records,
// log lines, error data — and, when a policy asks, from the arguments it forwards and the results it
// returns (SPEC §8.6).
//
// It exists because an audit log that must be kept for years and shipped to a SIEM is the worst place
// for an API key to end up, and because the agent's arguments and the server's results are exactly
// where keys, tokens and customer data travel. Two kinds of evidence mark a value for redaction. A
// member, header or attribute whose name says what it holds (password, token, secret, key, auth,
// session_id, api_key, access_token, ssn, email, phone, address; see SensitiveKey for how names are
// matched) has its whole value replaced by [REDACTED]. Anywhere else, text that has the shape of a
// secret is replaced by [REDACTED_<TYPE>]: private key blocks, JWTs, credentials in URLs, provider
// API keys by their prefixes, bearer tokens, high-entropy tokens, and card numbers that pass the
// Luhn check.
//
// Redaction is pure and deterministic, never modifies its input, and is idempotent: redacting twice
// gives what redacting once gave, so layers of the gateway can apply it without coordinating. Text,
// Value and JSON redact; Preview and Record also truncate to the audit log's limits (500 characters
// per field, 10 KB per record, "...[TRUNCATED from N chars]"), always after redacting, so that a cut
// never leaves half a secret that no longer matches. NewHandler wraps a log/slog handler so that no
// log line carries a secret, and Ops expresses the same redactions as policy rewrite operations, so
// that the gateway applies them to forwarded messages through the path a rule's redact effect uses.
package redact
