// Package agenttoken issues and verifies gatehouse agent tokens (SPEC §7.1): compact JWS tokens
// (JWTs) that prove which agent is calling, with which roles, for how long, and optionally for which
// tenant.
//
// It exists because an agent's identity is the input every other control depends on: rules match
// agents and roles, the kill switch kills agents, budgets are counted per agent, and the audit log
// attributes every decision to one. A trusted local identity given on the command line is enough for
// a gateway its only client launched; anything more needs a credential the agent cannot forge.
//
// Two schemes are supported. "hmac" signs with HMAC-SHA256 (JWS alg HS256) over a shared secret of
// at least 32 bytes: simple, but whoever verifies can also mint tokens. "ed25519" signs with an Ed25519
// private key (JWS alg EdDSA); gatehouse holds only the public key, so a compromised gateway cannot
// mint tokens and a token is evidence of who issued it.
//
// A Verifier is built for exactly one scheme and refuses tokens of any other. This closes the classic
// algorithm-confusion attacks on JWT libraries that trust the token's own "alg" header: an HS256
// token signed with the bytes of an Ed25519 public key as its HMAC secret, an "alg":"none" token, or a
// token whose "scheme" claim disagrees with its signature algorithm are all refused before or after
// the signature check, each with its own Code. Every refusal is an *Error with a stable Code, so the
// identity stage can answer unauthenticated and operators can tell an expired token from a forged one.
//
// The package has no global state and reads no clock: Issue takes the times in its Claims and Verify
// takes the time to check against, so every path is testable with fixed times.
package agenttoken
