package replay

import (
	"context"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
)

// FuzzReplay replays any line the audit log parser accepts: a record from a log that verified may
// still hold anything a writer could put in it (a preview in particular), and replay must neither
// panic nor leave a record without a verdict.
func FuzzReplay(f *testing.F) {
	for _, r := range []*auditlog.Record{
		call(1, "refund", `{"amount":50}`),
		call(2, "refund", `{"amount":50,"note":"x…`),
		refused(call(3, "read", `{"a":[1,{"b":null}]}`), "upstream", "upstream_unavailable"),
		refused(call(4, "x", `{}`), "kill", "session_killed"),
	} {
		r.V, r.PrevHash = auditlog.Version, auditlog.GenesisHash
		f.Add(auditlog.Seal(r))
	}
	rp := replayer(f, pipeline.ModeEnforce, `default_effect: deny
rules:
  - id: refund
    tools: [refund]
    effect: allow
    when: {field: amount, op: lt, value: 100}
    budget: {field: amount, limit: 1000, scope: session, window: 1h}
`)
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := auditlog.ParseLine(line)
		if err != nil {
			return
		}
		res := rp.one(context.Background(), rec)
		switch {
		case rec.Type != auditlog.TypeDecision:
			if res != nil {
				t.Fatalf("a %s record gave a result", rec.Type)
			}
		case res == nil:
			t.Fatal("a decision gave no result")
		case res.Skipped == "" && (res.Now == nil || res.Status == ""):
			t.Fatalf("replayed without a verdict: %+v", res)
		}
	})
}
