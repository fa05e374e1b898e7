package gateway

import (
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/budget"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/ratelimit"
)

// requestStages is the request path of SPEC §3.1. Ordering is VERY important: a stage only ever sees
// calls that every stage above it let through, and the engines see a caller whose identity is already
// established.
//
// Before the chain, the codec has already enforced the shape limits of SPEC §8.5 (size, depth, UTF-8,
// duplicate members, envelope): a frame that fails them never becomes a Call. After the chain, the
// gateway writes the audit record and, only for a decision that forwards, sends the frame upstream.
//
// Tenancy, the tenant allowlist and the threat scanner take their places between kill and the
// engines when they arrive (SPEC §3.1).
func requestStages(o *Options) []pipeline.Stage {
	stages := []pipeline.Stage{
		o.Identity,                  // §7   who is calling
		kill.New(o.Store, o.Logger), // §10.4 killed sessions end here
	}
	if len(o.RateLimits) > 0 { //         §8.7 the gateway's own limits, before any policy work
		stages = append(stages, ratelimit.New(o.RateLimits, o.Store, o.Fail, o.Logger))
	}
	for _, e := range o.Engines {
		stages = append(stages, e) //            §4, §5, §6 every engine adds a verdict
	}
	return append(stages,
		pipeline.Decide{},                     // §3.3 verdicts combined
		budget.New(o.Store, o.Fail, o.Logger), // §4.4 budgets and rates, forwarded calls only
		approval.Stage{},                      // §10  holds
	)
}

// responseStages is the response path of SPEC §3.2 for tools/call, resources/read and prompts/get
// results: the engines' post hooks (an engine whose policy has no response phase passes), then their
// combination. The gateway applies the resulting rewrites, audits, and returns the result.
func responseStages(o *Options) []pipeline.Stage {
	stages := make([]pipeline.Stage, 0, len(o.Engines)+1)
	for _, e := range o.Engines {
		stages = append(stages, e)
	}
	return append(stages, pipeline.Decide{})
}
