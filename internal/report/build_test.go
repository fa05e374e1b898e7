package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildCounts(t *testing.T) {
	path := writeFixture(t, t.TempDir())
	r, err := Build(Options{Files: []string{path}, PublicKey: testPub()})
	if err != nil {
		t.Fatal(err)
	}
	if want := (RecordCounts{Records: 21, Decisions: 14, Events: 3, Checkpoints: 4}); r.Records != want {
		t.Errorf("records = %+v, want %+v", r.Records, want)
	}
	if !r.Integrity.Intact || r.Integrity.Chain.SignedCheckpoints != 4 || r.Integrity.Chain.Events != 3 || r.Integrity.KeyID == "" {
		t.Errorf("integrity = %+v, want intact with 3 events and 4 signed checkpoints verified", r.Integrity)
	}
	if len(r.Changes) != 2 || r.Changes[0].Method != "tools/pin.changed" || r.Changes[1].Tenant != "acme" {
		t.Errorf("changes = %+v, want the quarantine and the allowlist change (not the first sight)", r.Changes)
	}
	for _, c := range r.Tools {
		if c.Key == "refund" && c.N != 5 {
			t.Errorf("refund counted %d times: events must not count as decisions", c.N)
		}
	}
	bot := r.Agents[0]
	if bot.Name != "refund-bot" || bot.Decisions != 11 || bot.Forwarded != 5 || bot.Denied != 3 || bot.Held != 2 ||
		bot.Killed != 1 || bot.Threats != 3 || bot.Tools != 5 || !cmp.Equal(bot.Roles, []string{"refunds", "support"}) {
		t.Errorf("refund-bot = %+v", bot)
	}
	if got := r.Tenants[len(r.Tenants)-1]; got.Name != "globex" || got.Agents != 1 || got.Decisions != 1 {
		t.Errorf("globex = %+v", got)
	}
	wantCodes := []Count{{"approval_required", 2}, {"threat_detected", 2}, {"malformed_message", 1}, {"policy_deny", 1},
		{"rate_limited", 1}, {"session_killed", 1}, {"unauthenticated", 1}}
	if diff := cmp.Diff(wantCodes, r.Codes); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	if r.Threats.Detected != 2 || r.Threats.Monitor != 1 || r.Redacted != 1 || len(r.Approvals) != 2 || r.Approvals[0].ApprovalID != "apr_7Q2" {
		t.Errorf("threats %+v, redacted %d, approvals %+v", r.Threats, r.Redacted, r.Approvals)
	}
	// Flagged calls, whatever the policy did with them: refused, allowed in monitor mode, held.
	wantThreats := Threats{Flagged: 3, Detected: 2, Monitor: 1,
		ByEffect: []Count{{"allow", 1}, {"deny", 1}, {"require_approval", 1}},
		ByRule:   []Count{{"pi.ignore-instructions", 2}, {"pt.dotdot-escape", 1}, {"se.exfil-instruction", 1}},
		ByEngine: []Count{{"threat", 2}}, ByAgent: []Count{{"refund-bot", 3}},
		ByTool: []Count{{"fetch_url", 2}, {"read_file", 1}}}
	if diff := cmp.Diff(wantThreats, r.Threats); diff != "" {
		t.Errorf("threat rollup (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Count{{"open", 1}}, r.FailPostures); diff != "" {
		t.Errorf("fail postures (-want +got):\n%s", diff)
	}
}

func TestBuildCountsUnreadableLines(t *testing.T) {
	dir := t.TempDir()
	path := writeFixture(t, dir)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not a record\n" + strings.Repeat("x", maxLine+10) + "\n{\"torn\":")
	f.Close()
	r, err := Build(Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Records.Unreadable != 3 || r.Records.Decisions != 14 {
		t.Errorf("unreadable %d, decisions %d; want 3 and 14", r.Records.Unreadable, r.Records.Decisions)
	}
	if r.Integrity.Intact {
		t.Error("a log with garbage appended is reported intact")
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(Options{}); err == nil {
		t.Error("no files: got no error")
	}
	if _, err := Build(Options{Files: []string{filepath.Join(t.TempDir(), "missing.jsonl")}}); err == nil {
		t.Error("missing file: got no error")
	}
	path := writeFixture(t, t.TempDir())
	if _, err := Build(Options{Files: []string{path}, PublicKey: testPub()[:5]}); err == nil {
		t.Error("short public key: got no error")
	}
}

func TestBuildReadsAFileGivenTwiceOnce(t *testing.T) {
	path := writeFixture(t, t.TempDir())
	r, err := Build(Options{Files: []string{path, path}, AllowUnsealed: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Records.Decisions != 14 {
		t.Errorf("decisions = %d, want 14", r.Records.Decisions)
	}
}
