// Package rego is gatehouse's embedded Open Policy Agent engine (SPEC §5): a compiled OPA bundle as a
// pure decider, so that operators can write fine-grained allow, deny and rewrite rules in Rego and
// change them without changing gatehouse.
//
// OPA runs in-process. New compiles a bundle once, prepares its decision query once (rego.PrepareForEval)
// and returns a Decider that is shared by every request until the next bundle replaces it; there is no
// OPA server and no network hop, which is what keeps a decision in the tens of microseconds. The
// decision input is built directly as an OPA ast.Value from the policy.Input every engine sees (SPEC
// §5.2), without a JSON round trip, and argument numbers stay the exact json.Number text the client
// sent: a policy that compares 0.1 sees 0.1, not its nearest float64.
//
// The decider is pure because its bundle is. Built-in functions that reach the network, the clock,
// randomness or the runtime environment (http.send, net.lookup_ip_addr, time.now_ns, uuid.rfc4122,
// opa.runtime, ...) are refused when the bundle is compiled, with the file and line that calls them, so
// a decision is a function of its input and can be golden-tested, replayed from an audit record, and
// benchmarked honestly. Evaluation is bounded by a timeout: a policy that loops too long is an engine
// error, and the engine stage's fail posture decides (SPEC §3.6).
//
// The output contract (SPEC §5.3) is an object {allow, patch, reason, code, effect, rule_id} of which
// only allow is required; anything else is an engine error rather than a guess. An undefined decision
// is a deny. patch is a JSON merge patch (RFC 7396) over the call's arguments (request phase) or the
// upstream's result (response phase, when input.response is present), converted to the policy.Op
// rewrites every engine shares. HasResponsePhase walks the compiled policy for reads of
// input.response, so results are decoded only for policies that look at them; the same walk finds the
// input members a policy can read, and only those are built for each decision.
//
// Visible answers the list-filtering question of SPEC §3.4 soundly: a tool is hidden only when no
// arguments and no threat score could get it allowed. It first evaluates the decision with rule
// indexing off and a tracer that notes every read of the unknown parts of the input; a refusal that
// never read them cannot depend on them. Otherwise it asks OPA's partial evaluation, with those parts
// unknown, whether any residual query remains; when the policy is too complex for either to prove a
// refusal, the item is shown.
package rego
