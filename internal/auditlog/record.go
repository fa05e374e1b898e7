package auditlog

import (
	"errors"
	"fmt"
	"time"
)

// Version is the schema version this package writes. It reads this version
// and the ones before it (MinVersion); a record with any other "v" is
// rejected: a later schema may give members different meanings, and guessing
// would make verification lie.
//
// Version 2 added threat_score and threats. A version 1 record encodes
// exactly as it always did (those members are never present in it), so every
// log written before keeps verifying.
const Version = 2

// MinVersion is the oldest schema version this package reads.
const MinVersion = 1

// MaxThreats is how many threat rules a record names at most.
const MaxThreats = 16

// GenesisHash is the prev_hash of the first record of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// TimeLayout is the format of the time member: RFC 3339 in UTC with exactly
// six fractional digits, so that every time has one spelling.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Record types.
const (
	// TypeDecision records one decision of the gateway about one message.
	TypeDecision = "decision"
	// TypeCheckpoint is written by the writer to seal and optionally sign
	// the chain so far.
	TypeCheckpoint = "checkpoint"
	// TypeRecovery is written by the writer when it found the log in a state
	// it had to repair or could not vouch for (torn tail, unclean close).
	TypeRecovery = "recovery"
	// TypeEvent records something the gateway did that is not the decision of
	// a client's message: an operator's change through the admin API, a tool
	// definition first seen or changed.
	TypeEvent = "event"
)

// Checkpoint reasons.
const (
	// CheckpointCount is written after every Options.CheckpointEvery records.
	CheckpointCount = "count"
	// CheckpointInterval is written when Options.CheckpointInterval passed.
	CheckpointInterval = "interval"
	// CheckpointClose is the last record a writer writes on Close.
	CheckpointClose = "close"
	// CheckpointRotate is the last record of a file that was rotated away.
	CheckpointRotate = "rotate"
)

// Record is one line of the audit log, schema version 2.
//
// The field order here is the member order of the encoding. Members whose
// value is empty or zero are omitted, except v, seq, time, type, prev_hash
// and hash, which are always present. The schema is frozen: add a field only
// together with a new Version.
type Record struct {
	V    int       // schema version; the writer sets it to Version
	Seq  uint64    // position in the chain, from 1, across rotated files
	Time time.Time // when the record was made; encoded in UTC to the microsecond
	Type string    // TypeDecision, TypeEvent, TypeCheckpoint or TypeRecovery

	DecisionID string   // the id a client sees in an error, to find this record
	CallID     string   // the JSON-RPC id of the call as the client sent it
	SessionID  string   // MCP session, where known
	RunID      string   // agent run, where known
	Tenant     string   // engagement the call was scoped to
	Agent      string   // agent identity from its token
	User       string   // authenticated user
	Roles      []string // roles of the caller
	ClientIP   string   // address of the client

	Method          string // MCP method, e.g. tools/call
	Upstream        string // upstream server the call was routed to
	Tool            string // tool, prompt or resource name
	ProtocolVersion string // MCP protocol version of the message

	Effect      string // effect applied: allow, deny, patch, redact, …
	WouldEffect string // effect that would have applied in monitor mode
	Code        string // stable snake_case reason code, e.g. policy_deny
	RuleID      string // rule that decided
	Reason      string // human reason from the policy
	Engine      string // engine that decided: rules, rego, pack, …
	Mode        string // enforce, monitor or off
	Fail        string // posture applied when an engine failed: open or closed
	EngineError string // the engine failure, when there was one

	RulesRev  string // revision of the native rules
	BundleRev string // revision of the Rego bundle
	PackSHA   string // SHA-256 of the policy pack

	ResponseEffect string // effect of the response-phase decision
	ResponseRuleID string // rule that decided the response
	ApprovalID     string // approval the call was held for
	Status         string // outcome: ok, error, denied, …

	LatencyUS  int64 // time the gateway spent, in microseconds
	UpstreamUS int64 // time the upstream spent, in microseconds

	ArgsPreview   string // redacted, truncated arguments
	ResultPreview string // redacted, truncated result
	Detail        string // free text, used by recovery and event records

	ThreatScore float64  // highest threat score of the call's messages, rounded to 3 decimals (v2)
	Threats     []string // rules of the threat scanner that matched, at most MaxThreats (v2)

	Checkpoint *Checkpoint // present exactly on checkpoint records

	PrevHash string // hash of the previous record, GenesisHash for the first
	Hash     string // hash of this record, see ChainHash
}

// Checkpoint is the checkpoint member of a checkpoint record. It names the
// record it follows and, when the log has a signing key, signs that name.
type Checkpoint struct {
	OfSeq  uint64 // seq of the record the checkpoint follows; always encoded
	OfHash string // hash of that record; always encoded
	Reason string // CheckpointCount, CheckpointInterval, CheckpointClose or CheckpointRotate
	KeyID  string // KeyID of the signing key; omitted when unsigned
	Sig    string // base64 Ed25519 signature of CheckpointMessage; omitted when unsigned
}

// sealing reports whether r is a checkpoint that ends a file cleanly: after
// it, either nothing follows or the chain continues in a new file.
func (r *Record) sealing() bool {
	return r.Type == TypeCheckpoint && r.Checkpoint != nil &&
		(r.Checkpoint.Reason == CheckpointClose || r.Checkpoint.Reason == CheckpointRotate)
}

// errUnsupportedVersion is wrapped by errors for records of a schema
// version this package does not know.
var errUnsupportedVersion = errors.New("unsupported schema version")

// validate checks what a decoded record must satisfy beyond being
// well-formed JSON: known version and type, the members each type needs,
// and hashes that are hashes.
func (r *Record) validate() error {
	if r.V < MinVersion || r.V > Version {
		return fmt.Errorf("%w %d (this verifier knows %d to %d)", errUnsupportedVersion, r.V, MinVersion, Version)
	}
	if r.V < 2 && (r.ThreatScore != 0 || len(r.Threats) > 0) {
		return fmt.Errorf("threat_score and threats are members of schema version 2, not %d", r.V)
	}
	if !(r.ThreatScore >= 0 && r.ThreatScore <= 1) { // NaN fails too
		return errors.New("threat_score is not between 0 and 1")
	}
	if len(r.Threats) > MaxThreats {
		return fmt.Errorf("more than %d threats", MaxThreats)
	}
	if r.Seq == 0 {
		return errors.New("seq 0 is not valid: a chain starts at seq 1")
	}
	switch r.Type {
	case TypeDecision, TypeEvent, TypeRecovery:
		if r.Checkpoint != nil {
			return fmt.Errorf("a %s record must not have a checkpoint member", r.Type)
		}
	case TypeCheckpoint:
		if r.Checkpoint == nil {
			return errors.New("a checkpoint record must have a checkpoint member")
		}
		switch r.Checkpoint.Reason {
		case CheckpointCount, CheckpointInterval, CheckpointClose, CheckpointRotate:
		default:
			return fmt.Errorf("unknown checkpoint reason %q", r.Checkpoint.Reason)
		}
		if !isHash(r.Checkpoint.OfHash) {
			return errors.New("checkpoint of_hash is not 64 lowercase hex characters")
		}
	default:
		return fmt.Errorf("unknown record type %q", r.Type)
	}
	if !isHash(r.PrevHash) {
		return errors.New("prev_hash is not 64 lowercase hex characters")
	}
	if !isHash(r.Hash) {
		return errors.New("hash is not 64 lowercase hex characters")
	}
	return nil
}

// isHash reports whether s is spelled like a hash this package writes.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
