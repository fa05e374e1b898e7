package rules

import (
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// decidedMethods are the MCP client-to-server requests a rule may name (SPEC §2.6 and the other
// requests of the 2025-11-25 and 2026-07-28 revisions). A rule naming another method loads with a
// warning, since extensions may add methods.
var decidedMethods = []string{
	"initialize", "ping", "server/discover",
	"tools/list", "tools/call",
	"resources/list", "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
	"subscriptions/listen",
	"prompts/list", "prompts/get",
	"completion/complete", "logging/setLevel",
	"tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
}

// responseMethods are the methods whose results pass through response-phase rules (SPEC §2.6).
var responseMethods = []string{"tools/call", "resources/read", "prompts/get"}

// rule is one compiled rule.
type rule struct {
	id    string
	index int // position in the file's rules list
	line  int
	phase policy.Phase

	effect policy.Effect
	code   policy.Code
	reason string

	// anyMethod is set by methods: ["*"] in the request phase; otherwise methods lists the kinds the
	// rule applies to (in the response phase "*" is expanded to responseMethods).
	anyMethod bool
	methods   []string

	tools, servers, agents, tenants *globList
	roles                           []string
	when                            *cond
	minThreat                       float64
	hasMinThreat                    bool

	ops []policy.Op
	// secrets adds, at decision time, the operations that redact every secret the redactor finds
	// in the arguments (request phase) or the result (response phase): redact_secrets.
	secrets bool
	budget  *budgetSpec
	rate    *policy.Rate
}

// matchesMethod reports whether the rule applies to messages of this kind.
func (r *rule) matchesMethod(kind string) bool {
	if r.anyMethod {
		return true
	}
	for _, m := range r.methods {
		if m == kind {
			return true
		}
	}
	return false
}

// matchesRest checks every criterion but the method, cheapest first. It is the whole of a decision's
// per-rule work, so it must not allocate.
func (r *rule) matchesRest(in *policy.Input, target string) bool {
	if (r.tools != nil && !r.tools.match(target)) ||
		(r.servers != nil && !r.servers.match(in.Tool.Server)) ||
		(r.agents != nil && !r.agents.match(in.Agent.ID)) ||
		(r.tenants != nil && !r.tenants.match(in.Tenant)) {
		return false
	}
	if r.roles != nil && !in.Agent.HasAnyRole(r.roles) && !in.User.HasAnyRole(r.roles) {
		return false
	}
	if r.hasMinThreat && !(in.Threat.Score >= r.minThreat) {
		return false
	}
	return r.when == nil || r.when.eval(in)
}
