package report

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

// testKey signs the checkpoints of test logs; Ed25519 signatures are deterministic, so the logs
// and the reports built from them are the same on every run.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// clock advances a fixed step on every read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(250 * time.Millisecond)
	return c.t
}

// fixtureRecords is a small, varied day of gatehouse decisions: two agents in two tenants,
// allowed, denied, held, killed, rate-limited, redacted, threat-flagged (enforced and in monitor
// mode), an unauthenticated call, a malformed frame and an engine failure.
func fixtureRecords() []*auditlog.Record {
	bot := func(r auditlog.Record) *auditlog.Record {
		if r.Agent == "" && r.Code != "unauthenticated" && r.Status != "malformed" {
			r.Agent, r.User, r.Roles, r.Tenant = "refund-bot", "refund-bot", []string{"refunds", "support"}, "acme"
		}
		if r.SessionID == "" {
			r.SessionID = "sess_1"
		}
		if r.Mode == "" {
			r.Mode = "enforce"
		}
		if r.Method == "" {
			r.Method = "tools/call"
		}
		r.Upstream = "payments"
		return &r
	}
	return []*auditlog.Record{
		bot(auditlog.Record{DecisionID: "dec_01", CallID: "1", Method: "initialize", Effect: "allow", RuleID: "handshake", Engine: "rules", Status: "answered", RulesRev: "1.0.0@abc"}),
		bot(auditlog.Record{DecisionID: "dec_02", CallID: "2", Method: "tools/list", Effect: "allow", RuleID: "handshake", Engine: "rules", Status: "answered"}),
		bot(auditlog.Record{DecisionID: "dec_03", CallID: "3", Tool: "refund", Effect: "allow", RuleID: "refund-small", Engine: "rules", Status: "answered", ArgsPreview: `{"amount":120}`}),
		bot(auditlog.Record{DecisionID: "dec_04", CallID: "4", Tool: "refund", Effect: "deny", Code: "policy_deny", RuleID: "refund-large", Engine: "rules", Reason: "blocked by rules: refunds of 500 or more need a human", Status: "refused"}),
		bot(auditlog.Record{DecisionID: "dec_05", CallID: "5", Tool: "refund", Effect: "require_approval", Code: "approval_required", RuleID: "refund-review", Engine: "rules", ApprovalID: "apr_7Q2", Status: "refused"}),
		bot(auditlog.Record{DecisionID: "dec_06", CallID: "6", Tool: "fetch_url", Effect: "deny", Code: "threat_detected", RuleID: "prompt-injection", Engine: "threat", Status: "refused",
			ThreatScore: 0.93, Threats: []string{"pi.ignore-instructions", "se.exfil-instruction"}}),
		bot(auditlog.Record{DecisionID: "dec_07", CallID: "7", Tool: "read_file", Effect: "allow", WouldEffect: "deny", Code: "threat_detected", RuleID: "path-traversal", Engine: "threat", Mode: "monitor", Status: "answered",
			ThreatScore: 0.71, Threats: []string{"pt.dotdot-escape"}}),
		bot(auditlog.Record{DecisionID: "dec_07b", CallID: "7b", Tool: "fetch_url", Effect: "require_approval", Code: "approval_required", RuleID: "threat-hold", Engine: "rules", ApprovalID: "apr_9K4", Status: "refused",
			ThreatScore: 0.88, Threats: []string{"pi.ignore-instructions"}}),
		bot(auditlog.Record{DecisionID: "dec_08", CallID: "8", Tool: "refund", Effect: "deny", Code: "rate_limited", RuleID: "refund-small", Engine: "budget", Status: "refused"}),
		bot(auditlog.Record{DecisionID: "dec_09", CallID: "9", Tool: "lookup_card", Effect: "redact", RuleID: "mask-cards", Engine: "rules", Status: "answered", ArgsPreview: `{"card":"[REDACTED]"}`}),
		bot(auditlog.Record{DecisionID: "dec_10", CallID: "10", Tool: "export_all", Effect: "kill_session", Code: "session_killed", RuleID: "no-bulk-export", Engine: "rules", Status: "refused"}),
		bot(auditlog.Record{DecisionID: "dec_11", CallID: "11", SessionID: "sess_2", Tool: "refund", Effect: "deny", Code: "unauthenticated", Engine: "identity", Reason: "agent token expired at 2026-11-20T09:00:00Z (token_expired)", Status: "refused"}),
		bot(auditlog.Record{DecisionID: "dec_12", CallID: "12", SessionID: "sess_3", Agent: "ops-bot", User: "ops-bot", Roles: []string{"ops"}, Tenant: "globex", Tool: "restart", Effect: "allow", RuleID: "ops-restart", Engine: "rules", Fail: "open", EngineError: "rego: eval timeout", Status: "answered"}),
		malformed(bot(auditlog.Record{DecisionID: "dec_13", SessionID: "sess_3", Effect: "deny", Code: "malformed_message", Status: "malformed"})),
		{Type: auditlog.TypeEvent, DecisionID: "pin_1", Method: "tools/pin.new", Engine: "pin", Effect: "allow", Status: "observed",
			Upstream: "payments", Tool: "refund", Detail: "digest sha256:aa, approved none, threat score 0.00 "},
		{Type: auditlog.TypeEvent, DecisionID: "pin_2", Method: "tools/pin.changed", Engine: "pin", Effect: "require_approval",
			Code: "approval_required", Status: "observed", Upstream: "payments", Tool: "refund", Detail: "digest sha256:bb, approved sha256:aa, threat score 0.80 (tp.hidden-instructions@tool.description)"},
		{Type: auditlog.TypeEvent, DecisionID: "adm_1", Method: "admin/allowlist.patch", Engine: "admin", Effect: "allow", Status: "applied",
			Tenant: "acme", User: "admin", ClientIP: "127.0.0.1:50000", ArgsPreview: `{"tools":["refund","lookup_card"]}`, Detail: "allowlist of acme: refund (config) -> refund,lookup_card"},
	}
}

// malformed makes r the record of a frame gatehouse could not read: it has no method.
func malformed(r *auditlog.Record) *auditlog.Record {
	r.Method, r.Upstream = "", ""
	return r
}

// writeFixture writes the fixture records to a new signed, closed log and returns its path.
func writeFixture(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	c := &clock{t: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)}
	w, err := auditlog.Open(auditlog.Options{Path: path, SigningKey: testKey, CheckpointEvery: 5, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixtureRecords() {
		if err := w.Submit(r).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
