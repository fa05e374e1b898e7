// Package pack is the workflow policy pack (SPEC §6): a manifest of remediation workflows compiled
// into a JSON contract of what each workflow's agents may do, and the decision function that
// enforces it on one tool call. The format and the decisions are those of the public
// SecurityRecipes MCP gateway policy pack; gatehouse loads its published pack, generates that pack
// from its manifest byte for byte, and decides requests as its published evaluator
// (evaluate_mcp_gateway_decision.py) does: the same decision and the same printed answer, except
// for the few inputs docs/policy-pack.md lists, which gatehouse refuses.
//
// That evaluator is a Python function over json.loads values, and its decisions depend on Python's
// view of them: which values are false, what str() of a number or a list is, how int() reads a
// string. This package keeps JSON values as Python sees them (value.go) and implements those few
// built-ins (python.go) and fnmatch (fnmatch.go), so that any request decides the same way here and
// there. Equivalence is tested against answers the published evaluator gave (testdata).
//
// A pack is checked when it loads: the evaluator raises at decision time on a field of the wrong
// shape; gatehouse refuses the pack instead, naming each problem. Decisions are pure: no I/O, no
// clock. Decider adapts a pack to the gateway's engine stage: the runtime attributes come from the
// call (SPEC §6.3), from places the operator chooses.
package pack
