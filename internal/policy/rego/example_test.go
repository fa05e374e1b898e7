package rego_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
)

// A bundle is compiled once; the decider then decides every call. The policy sees the input document
// of SPEC §5.2 (here input.user.roles, input.tool.name and input.tool.args) and answers with
// {allow, patch, reason, code, effect}. A patch is a JSON merge patch over the arguments.
func Example() {
	src := `package gatehouse

default decision := {"allow": false, "reason": "not allowed"}

decision := {"allow": false, "code": "validation_failed", "reason": "limit over 100"} if {
	input.tool.name == "search"
	input.tool.args.limit > 100
}

decision := {"allow": true, "patch": {"debug": null, "region": "eu"}} if {
	input.tool.name == "search"
	input.tool.args.limit <= 100
	"analyst" in input.user.roles
}
`
	b := &bundle.Bundle{Modules: []bundle.ModuleFile{{Path: "/policy.rego", Raw: []byte(src), Parsed: ast.MustParseModule(src)}}}
	d, err := rego.New(context.Background(), b, rego.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, args := range []string{`{"q": "revenue", "limit": 20, "debug": true}`, `{"q": "revenue", "limit": 5000}`} {
		dec := json.NewDecoder(strings.NewReader(args))
		dec.UseNumber() // numbers reach the policy as the client wrote them
		in := &policy.Input{Kind: "tools/call", Phase: policy.PhaseRequest, Tool: policy.Tool{Name: "search"},
			User: policy.Principal{ID: "ann", Roles: []string{"analyst"}}}
		if err := dec.Decode(&in.Tool.Args); err != nil {
			fmt.Println(err)
			return
		}
		v, err := d.Decide(context.Background(), in)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s", args, v.Effect)
		if v.Code != "" {
			fmt.Printf(" (%s: %s)", v.Code, v.Reason)
		}
		for _, op := range v.Ops {
			fmt.Printf(" %s", op)
		}
		fmt.Println()
	}
	// Output:
	// {"q": "revenue", "limit": 20, "debug": true}: patch remove [debug] set [region]
	// {"q": "revenue", "limit": 5000}: deny (validation_failed: limit over 100)
}
