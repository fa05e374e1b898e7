package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

func call(user, tenant, tool string) *pipeline.Call {
	return &pipeline.Call{Input: policy.Input{Kind: "tools/call", User: policy.Principal{ID: user}, Tenant: tenant, Tool: policy.Tool{Name: tool}}}
}

func TestLimitsPerScope(t *testing.T) {
	tests := []struct {
		name  string
		limit Limit
		calls []*pipeline.Call
		want  []bool // admitted?
	}{
		{"identity", Limit{Scope: ScopeIdentity, Limit: 2, Per: time.Minute},
			[]*pipeline.Call{call("a", "", "x"), call("a", "", "y"), call("a", "", "z"), call("b", "", "x")}, []bool{true, true, false, true}},
		{"tenant", Limit{Scope: ScopeTenant, Limit: 1, Per: time.Minute},
			[]*pipeline.Call{call("a", "t1", "x"), call("b", "t1", "x"), call("a", "t2", "x")}, []bool{true, false, true}},
		{"tool", Limit{Scope: ScopeTool, Limit: 1, Per: time.Minute},
			[]*pipeline.Call{call("a", "", "x"), call("b", "", "x"), call("a", "", "y")}, []bool{true, false, true}},
		{"identity_tool", Limit{Scope: ScopeIdentityTool, Limit: 1, Per: time.Minute},
			[]*pipeline.Call{call("a", "", "x"), call("a", "", "x"), call("b", "", "x"), call("a", "", "y")}, []bool{true, false, true, true}},
		{"tool filter", Limit{Scope: ScopeIdentity, Limit: 1, Per: time.Minute, Tools: []string{"db.*"}},
			[]*pipeline.Call{call("a", "", "db.q"), call("a", "", "db.w"), call("a", "", "echo"), call("a", "", "echo")}, []bool{true, false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New([]Limit{tt.limit}, state.NewMemory(nil), pipeline.FailClosed, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for i, c := range tt.calls {
				called := false
				s.Handle(context.Background(), c, func(context.Context, *pipeline.Call) error { called = true; return nil })
				if called != tt.want[i] {
					t.Errorf("call %d admitted = %v, want %v", i, called, tt.want[i])
				}
				if !called && (c.Decision.Code != policy.CodeRateLimited || c.Decision.RetryAfter <= 0) {
					t.Errorf("call %d refusal = %+v, want rate_limited with a retry-after", i, c.Decision)
				}
			}
		})
	}
}
