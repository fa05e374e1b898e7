// Package auditlog is Gatehouse's tamper-evident audit log: the record
// schema, its frozen canonical encoding, the hash chain that links every
// record to the one before it, signed checkpoints, a group-committing
// writer with size rotation and crash recovery, and the verifier behind
// `gatehouse verify`.
//
// The log is evidence. An operator hands it to an auditor who may not trust
// the operator, so the package is built to make three kinds of tampering
// detectable by anyone holding only the files and, optionally, a public key:
// editing a record, inserting, deleting or reordering records, and cutting
// records off the end. It imports nothing else from Gatehouse, so the
// verifier and the report generator can run without the gateway.
//
// # Format
//
// A log is JSON Lines: one record per line, each line ending in "\n". Every
// record is encoded by one hand-written encoder with a fixed member order,
// one way of escaping strings and no optional whitespace (see [AppendBody]).
// The encoding of schema version 1 must never change: golden files in
// testdata/ pin it byte for byte, because every hash ever written depends
// on it. A change to the schema is a new version, not an edit.
//
// # Chain
//
// Each record carries prev_hash, the hash of the record before it (64 "0"
// characters for the first record, see [GenesisHash]), and hash:
//
//	body = the line as written, with `,"hash":"<hex>"` removed
//	       (that is: the canonical encoding of every member except hash)
//	hash = lowercase hex( SHA-256( prev_hash || "\n" || body ) )
//
// where prev_hash is the 64-character hex string, not its bytes. Because
// hash is always the last member, a verifier can recompute it from the bytes
// on disk without re-encoding anything.
//
// # Checkpoints
//
// Every N records, every T of time, before rotation and on close the writer
// appends a checkpoint record naming the record it follows (of_seq,
// of_hash). With a signing key, the checkpoint carries an Ed25519 signature
// over
//
//	"gatehouse-audit-checkpoint/v1\n" + decimal(of_seq) + "\n" + of_hash + "\n"
//
// so that rewriting the whole chain after an edit, which the hash chain
// alone cannot reveal, is detectable by anyone with the public key. A log
// whose last record is not a close or rotate checkpoint was either cut short
// or not closed, and [Verify] says so.
//
// # Durability
//
// [Writer] is the only code that appends to a log. One commit at a time (by
// the writer's goroutine, or by a caller waiting for its record) writes
// everything queued with one write and one fsync, and only then releases the
// callers, so a decision is never released before its record is on disk, and
// fsync latency does not cap throughput. The file is locked
// with flock while a writer has it open, so two gateways cannot interleave
// records. On open, a torn final line left by a crash is moved aside, never
// deleted, and a recovery record says so.
//
// README.md in this directory describes the format for operators, including
// a shell script that verifies a log without Gatehouse.
package auditlog
