package tenancy

import (
	"context"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/mcp"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
)

func run(s pipeline.Stage, c *pipeline.Call) (passed bool) {
	s.Handle(context.Background(), c, func(context.Context, *pipeline.Call) error { passed = true; return nil })
	return passed
}

func TestResolveRefusesCallsWithoutAnEngagement(t *testing.T) {
	for _, c := range []struct {
		tenant, problem string
		pass            bool
	}{{"acme", "", true}, {"", "", false}, {"acme", "the session was opened for another engagement", false}} {
		call := &pipeline.Call{Input: policy.Input{Kind: mcp.MethodToolsCall, Tenant: c.tenant}, TenantProblem: c.problem}
		if got := run(Resolve{}, call); got != c.pass {
			t.Errorf("%+v: passed %v", c, got)
		}
		if !c.pass && (call.Decision.Code != policy.CodeCrossTenant || call.Decision.Forwards()) {
			t.Errorf("%+v: decision %+v, want a cross_tenant refusal", c, call.Decision)
		}
	}
}

func TestAllowlistRefusesAndHidesOnlyTools(t *testing.T) {
	lists, _ := tenancy.Open("", nil, map[string][]string{"acme": {"crm.*"}})
	s := NewAllowlist(lists)
	tool := func(tenant, name string) *pipeline.Call {
		c := &pipeline.Call{Input: policy.Input{Kind: mcp.MethodToolsCall, Tenant: tenant}}
		c.Input.Tool.Name = name
		return c
	}
	if !run(s, tool("acme", "crm.lookup")) || !run(s, tool("other", "fs.read")) {
		t.Error("an allowlisted tool was refused")
	}
	c := tool("acme", "fs.read")
	if run(s, c) || c.Decision.Code != policy.CodeCrossTenant {
		t.Errorf("fs.read is not on acme's list: %+v", c.Decision)
	}
	if s.Visible(context.Background(), tool("acme", "fs.read")) || !s.Visible(context.Background(), tool("acme", "crm.x")) {
		t.Error("visibility does not follow the allowlist")
	}
	prompt := &pipeline.Call{Input: policy.Input{Kind: mcp.MethodPromptsGet, Tenant: "acme"}}
	if !run(s, prompt) || !s.Visible(context.Background(), prompt) {
		t.Error("a prompt was refused: only tools are allowlisted")
	}
}
