package audit

import (
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestRecordFields(t *testing.T) {
	msg, err := jsonrpc.Parse([]byte(`{"jsonrpc":"2.0","id":"c-9","method":"tools/call","params":{"name":"database.backup"}}`), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	c := &pipeline.Call{
		DecisionID: "dec_1", Received: received, Msg: msg, Upstream: "db",
		Request: &mcp.Request{ProtocolVersion: "2025-11-25"},
		Input: policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "database.backup"}, Tenant: "acme",
			Agent: policy.Principal{ID: "bot", Roles: []string{"dev"}}, User: policy.Principal{ID: "ann"},
			Session: policy.Session{ID: "s1", RunID: "r1"}, RequestIP: "10.0.0.1"},
		Decision: pipeline.Decision{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, Reason: "role_mismatch",
			RuleID: "backup-admins", Engine: "rego", Revisions: pipeline.Revisions{Rules: "1@a", Bundle: "b2", Pack: "sha"}},
	}
	r := (&Recorder{mode: "enforce"}).record(c, Outcome{Status: StatusRefused, Args: []byte(`{}`), Result: []byte(`{"error":1}`), Done: received.Add(1500 * time.Microsecond)})
	checks := map[string][2]string{
		"reason":      {r.Reason, "blocked by rego: role_mismatch"},
		"call_id":     {r.CallID, "c-9"},
		"tool":        {r.Tool, "database.backup"},
		"effect":      {r.Effect, "deny"},
		"code":        {r.Code, "policy_deny"},
		"tenant":      {r.Tenant, "acme"},
		"agent":       {r.Agent, "bot"},
		"user":        {r.User, "ann"},
		"upstream":    {r.Upstream, "db"},
		"status":      {r.Status, "refused"},
		"bundle_rev":  {r.BundleRev, "b2"},
		"protocol":    {r.ProtocolVersion, "2025-11-25"},
		"run_id":      {r.RunID, "r1"},
		"client_ip":   {r.ClientIP, "10.0.0.1"},
		"args":        {r.ArgsPreview, "{}"},
		"result":      {r.ResultPreview, `{"error":1}`},
		"decision_id": {r.DecisionID, "dec_1"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if r.LatencyUS != 1500 {
		t.Errorf("latency_us = %d, want 1500", r.LatencyUS)
	}
}

func TestRecordMonitorAndNonEngineRefusal(t *testing.T) {
	c := &pipeline.Call{Msg: &jsonrpc.Message{}, Decision: pipeline.Decision{Effect: policy.EffectAllow, RuleID: "allow-all", Engine: "rules",
		Would: policy.EffectDeny, WouldCode: policy.CodePolicyDeny, WouldRule: "no-drops", WouldReason: "drops are forbidden"}}
	r := (&Recorder{mode: "monitor"}).record(c, Outcome{Status: StatusAnswered})
	if r.Effect != "allow" || r.WouldEffect != "deny" || r.RuleID != "no-drops" || r.Reason != "drops are forbidden" || r.Mode != "monitor" {
		t.Errorf("monitor record = %+v", r)
	}
	c = &pipeline.Call{Msg: &jsonrpc.Message{}, Decision: pipeline.Decision{Effect: policy.EffectDeny, Code: policy.CodeBudgetExceeded, Reason: "over", Engine: "budget"}}
	if r := (&Recorder{}).record(c, Outcome{}); r.Reason != "over" {
		t.Errorf("a budget refusal's reason = %q, want it unprefixed", r.Reason)
	}
}
