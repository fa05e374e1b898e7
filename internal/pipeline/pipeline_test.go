package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func v(engine string, e policy.Effect, rule string) Verdict {
	return Verdict{Verdict: policy.Verdict{Engine: engine, Effect: e, RuleID: rule}}
}

func TestCombine(t *testing.T) {
	redact := v("rules", policy.EffectRedact, "r")
	redact.Ops = []policy.Op{{Kind: policy.OpRedact, Path: []string{"a"}}}
	patch := v("rego", policy.EffectPatch, "p")
	patch.Ops = []policy.Op{{Kind: policy.OpSet, Path: []string{"b"}, Value: 1}}
	mon := v("rego", policy.EffectDeny, "m")
	mon.Monitor = true
	failed := v("rego", policy.EffectAllow, "")
	failed.Fail, failed.Error = FailOpen, "eval timeout"

	tests := []struct {
		name string
		in   []Verdict
		want Decision
	}{
		{"none allows", nil, Decision{Effect: policy.EffectAllow}},
		{"deny beats allow", []Verdict{v("rules", policy.EffectAllow, "a"), v("rego", policy.EffectDeny, "d")},
			Decision{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "d", Engine: "rego"}},
		{"kill beats deny", []Verdict{v("rules", policy.EffectDeny, "d"), v("rego", policy.EffectKillSession, "k")},
			Decision{Effect: policy.EffectKillSession, Code: policy.CodeSessionKilled, RuleID: "k", Engine: "rego"}},
		{"deny beats hold", []Verdict{v("rules", policy.EffectRequireApproval, "h"), v("rego", policy.EffectDeny, "d")},
			Decision{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "d", Engine: "rego"}},
		{"hold beats rewrite", []Verdict{redact, v("rego", policy.EffectRequireApproval, "h")},
			Decision{Effect: policy.EffectRequireApproval, Code: policy.CodeApprovalRequired, RuleID: "h", Engine: "rego"}},
		{"rewrites in engine order", []Verdict{redact, patch},
			Decision{Effect: policy.EffectRedact, RuleID: "r", Engine: "rules", Ops: append(append([]policy.Op(nil), redact.Ops...), patch.Ops...)}},
		{"first of equal severity decides", []Verdict{v("rules", policy.EffectDeny, "first"), v("rego", policy.EffectDeny, "second")},
			Decision{Effect: policy.EffectDeny, Code: policy.CodePolicyDeny, RuleID: "first", Engine: "rules"}},
		{"monitor deny is only would", []Verdict{v("rules", policy.EffectAllow, "a"), mon},
			Decision{Effect: policy.EffectAllow, RuleID: "a", Engine: "rules", Would: policy.EffectDeny, WouldCode: policy.CodePolicyDeny, WouldRule: "m"}},
		{"fail open recorded", []Verdict{v("rules", policy.EffectAllow, "a"), failed},
			Decision{Effect: policy.EffectAllow, RuleID: "a", Engine: "rules", Fail: FailOpen, EngineError: "eval timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Combine(tt.in)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Decision{})); diff != "" {
				t.Errorf("Combine (-want +got):\n%s", diff)
			}
		})
	}
}

type recordStage struct {
	name   string
	log    *[]string
	refuse bool
}

func (s recordStage) Name() string { return s.name }
func (s recordStage) Handle(ctx context.Context, c *Call, next Handler) error {
	*s.log = append(*s.log, s.name)
	if s.refuse {
		c.Refuse(s.name, policy.CodeUnauthenticated, "no")
		return nil
	}
	return next(ctx, c)
}

func TestChainOrderAndShortCircuit(t *testing.T) {
	var log []string
	ch := NewChain(recordStage{name: "a", log: &log}, recordStage{name: "b", log: &log, refuse: true}, recordStage{name: "c", log: &log})
	c := &Call{}
	if err := ch.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(log, ","); got != "a,b" {
		t.Errorf("stages run = %s, want a,b (c must not run after a refusal)", got)
	}
	if c.Decision.Code != policy.CodeUnauthenticated || c.Decision.Engine != "b" {
		t.Errorf("decision = %+v", c.Decision)
	}
	if got := strings.Join(ch.Names(), ","); got != "a,b,c" {
		t.Errorf("Names = %s", got)
	}
	if err := NewChain().Run(context.Background(), &Call{}); err != nil {
		t.Errorf("empty chain: %v", err)
	}
}

func TestAbandonRunsOnceInReverse(t *testing.T) {
	var d Decision
	var got []int
	d.OnAbandon(func() { got = append(got, 1) })
	d.OnAbandon(func() { got = append(got, 2) })
	d.Abandon()
	d.Abandon()
	if diff := cmp.Diff([]int{2, 1}, got); diff != "" {
		t.Errorf("abandon order (-want +got):\n%s", diff)
	}
}

func TestThreatSummary(t *testing.T) {
	var s ThreatSummary
	s.Add(policy.Threat{Score: 0.6, Findings: []policy.Finding{{Rule: "pi.a"}, {Rule: "pi.b"}, {Rule: "pi.a"}}})
	s.Merge(ThreatSummary{Score: 0.9, Rules: []string{"pi.b", "se.c"}})
	s.Add(policy.Threat{Score: 0.7})
	if s.Score != 0.9 || !slices.Equal(s.Rules, []string{"pi.a", "pi.b", "se.c"}) {
		t.Errorf("summary = %+v", s)
	}
	for i := range 40 {
		s.Add(policy.Threat{Score: 0.5, Findings: []policy.Finding{{Rule: fmt.Sprint("r", i)}}})
	}
	if len(s.Rules) != maxThreatRules || maxThreatRules > 16 { // 16: auditlog.MaxThreats
		t.Errorf("%d rules kept, want %d (and at most what the audit record keeps)", len(s.Rules), maxThreatRules)
	}
}
