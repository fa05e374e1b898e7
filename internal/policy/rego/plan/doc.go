// Package plan evaluates OPA's compiled plan of a query: the intermediate representation (IR) that
// OPA's planner produces from Rego and its Wasm target is built from.
//
// Plan asks OPA for the plan of a prepared query; Compile resolves it into a Program (functions by
// pointer, built-ins by OPA's own implementation, constants as terms) and evaluates once each rule
// whose value depends on data alone. Program.Eval runs it for an input with OPA's semantics and none
// of its tree-walking machinery: locals in one stack, rule values memoized per evaluation, pooled
// working memory. Compile refuses, with ErrUnsupported, what it does not implement, so that the
// caller can evaluate such a policy with OPA's evaluator instead.
//
// A Program is held to OPA by OPA's own evaluation test suite (conformance_test.go): every case it
// runs must give the results OPA's evaluator gives. Like the rest of internal/policy it is pure: no
// I/O, and no clock or randomness but what EvalOptions hands it.
package plan
