package rules_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/policy/rules"
)

// A policy is loaded once, then decides each call. The refund below is allowed and asks the budget
// stage to count 120 against the session's 2000; a refund of "600" (a numeric string) is denied.
func Example() {
	p, err := rules.Load("refunds.yaml", []byte(`
name: refunds
version: "1"
rules:
  - id: refund-small
    tools: [refund]
    effect: allow
    when: {field: amount, op: lt, value: 500}
    budget: {field: amount, limit: 2000, scope: session}
  - id: refund-large
    tools: [refund]
    effect: deny
    reason: refunds of 500 or more need a human
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, args := range []string{`{"amount": 120}`, `{"amount": "600"}`} {
		dec := json.NewDecoder(strings.NewReader(args))
		dec.UseNumber()
		in := &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "refund"}}
		if err := dec.Decode(&in.Tool.Args); err != nil {
			fmt.Println(err)
			return
		}
		v := p.Decide(in)
		fmt.Printf("%s: %s by %s", args, v.Effect, v.RuleID)
		if v.Budget != nil {
			fmt.Printf(", budget %s %g of %g per %s", v.Budget.Key, v.Budget.Amount, v.Budget.Limit, v.Budget.Scope)
		}
		if v.Code != "" {
			fmt.Printf(" (%s: %s)", v.Code, v.Reason)
		}
		fmt.Println()
	}
	// Output:
	// {"amount": 120}: allow by refund-small, budget refund-small 120 of 2000 per session
	// {"amount": "600"}: deny by refund-large (policy_deny: refunds of 500 or more need a human)
}

// Load reports every problem at once, each as file:line: rule-id: message.
func ExampleLoad_problems() {
	_, err := rules.Load("bad.yaml", []byte(`
rules:
  - id: a
    effect: alow
    tools: [db.read]
  - id: b
    effect: deny
    when: {field: amount, op: lt, value: "500"}
  - id: c
    effect: allow
    when: {field: response.text, op: contains, value: x}
`))
	fmt.Println(err)
	// Output:
	// bad.yaml:4: a: effect "alow" is not one of allow, deny, redact, patch, require_approval, hold_for_approval, kill_session (did you mean "allow"?)
	// bad.yaml:8: b: when: op lt needs a number, got string "500"
	// bad.yaml:11: c: when: field "response.text": response fields exist only in the response phase; add phase: response, or write args.response for an argument
}
