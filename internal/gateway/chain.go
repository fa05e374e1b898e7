package gateway

import (
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/approval"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/budget"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/kill"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/ratelimit"
	tenancystage "github.com/gatehouse-mcp/gatehouse/internal/stage/tenancy"
)

// requestStages is the request path of SPEC §3.1. Ordering is VERY important: a stage only ever sees
// calls that every stage above it let through, and the engines see a caller whose identity and
// engagement are already established.
//
// Before the chain, the codec has already enforced the shape limits of SPEC §8.5 (size, depth, UTF-8,
// duplicate members, envelope): a frame that fails them never becomes a Call. After the chain, the
// gateway writes the audit record and, only for a decision that forwards, sends the frame upstream.
func requestStages(o *Options) []pipeline.Stage {
	stages := []pipeline.Stage{o.Identity} // §7    who is calling
	if o.Allowlists != nil {
		stages = append(stages, tenancystage.Resolve{}) // §8.1  which engagement
	}
	stages = append(stages, kill.New(o.Store, o.Logger, o.Metrics.killMetrics())) // §10.4 killed sessions end here
	if o.Allowlists != nil {
		stages = append(stages, tenancystage.NewAllowlist(o.Allowlists)) // §8.2 the engagement's tools
	}
	if o.Threat != nil {
		stages = append(stages, o.Threat) //                     §9   input.threat for the engines
	}
	for _, e := range o.Engines {
		stages = append(stages, e) //                           §4, §5, §6 every engine adds a verdict
	}
	if o.Pins != nil {
		stages = append(stages, o.Pins.Stage()) //               §9.3 a changed tool's calls are held, as a verdict
	}
	if len(o.RateLimits) > 0 { //                              §8.7 the gateway's own limits: every attempt counts
		stages = append(stages, ratelimit.New(o.RateLimits, o.Store, o.Fail, o.Logger))
	}
	return append(stages,
		pipeline.Decide{},                     // §3.3 verdicts combined
		approval.New(o.Approvals),             // §10  holds: a human's approval, waited for or retried; an approved call goes on
		budget.New(o.Store, o.Fail, o.Logger), // §4.4 budgets and rule rates, forwarded calls only
	)
}

// responseStages is the response path of SPEC §3.2 for tools/call, resources/read and prompts/get
// results: the engines' post hooks (an engine whose policy has no response phase passes), then their
// combination. The gateway applies the resulting rewrites, audits, and returns the result.
//
// The threat scan of the result runs first, not after the post hooks as SPEC §3.2 lists it: the
// engines' response rules can only use a result's threat score (min_threat_score, input.threat) if
// it exists when they run. Rewrites are still applied after every engine has decided.
func responseStages(o *Options) []pipeline.Stage {
	stages := make([]pipeline.Stage, 0, len(o.Engines)+2)
	if o.Threat != nil && o.Threat.ScansResults() {
		stages = append(stages, o.Threat)
	}
	for _, e := range o.Engines {
		stages = append(stages, e)
	}
	return append(stages, pipeline.Decide{})
}
