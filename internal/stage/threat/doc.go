// Package threat is the pipeline stage that runs the threat scanner (SPEC §9) on every decided call:
// on the arguments of tools/call and prompts/get and the URI of resources/read in the request phase,
// and on the result in the response phase (indirect prompt injection). It fills input.threat and
// calls next.
//
// It does not decide. The scanner is a heuristic, so the policies decide what a score means — a
// rule with min_threat_score, a Rego policy reading input.threat — and the shipped example sends
// hits to require_approval. An operator who wants a hard stop regardless of policy can set a
// threshold at which the stage itself refuses with threat_detected. An optional external
// Classifier is consulted with a timeout; when it fails, the fail posture decides, as for a policy
// engine (SPEC §3.6).
package threat
