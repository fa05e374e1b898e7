// Package auth says who is calling `gatehouse serve` and keeps the caller's credential from going any
// further. It is the OAuth 2.1 resource server of SPEC §7.2 and the no-passthrough rule of §7.3.
//
// An [Authenticator] turns an HTTP request into an [Identity] — a policy.Principal with roles, the
// caller's tenant and scopes ([Authenticator.Identify]; [Authenticator.Authenticate] returns just the
// principal) — or into an [*Error] that carries its HTTP status (401, 403 or 400) and the RFC 6750
// error code a client acts on. It accepts, as configured:
//
//   - bearer JWTs, verified against a JWKS URL (cached, refreshed when a token names an unknown
//     key, never more often than a rate limit allows) or static PEM public keys, with HMAC secrets
//     only when explicitly configured; issuer, audience (RFC 8707), expiry, not-before and
//     issued-at are checked, and roles, tenant and scopes are read from configurable claims;
//   - static API keys, stored in configuration only as SHA-256 hashes;
//   - nobody at all, in an explicit anonymous mode meant for a loopback listener.
//
// The package exists as one place because every decision in it is a security decision whose
// failure is silent: a verifier that takes its algorithm from the token (alg "none", or an RSA
// public key used as an HMAC secret), one that accepts a token minted for another service, or one
// that lets an attacker's random key ids make gatehouse hammer the identity provider. Each of those
// is refused here and tested here, so the HTTP gateway only has to call Authenticate, answer a
// failure with [Authenticator.Challenge], and build the decision input from what it returns.
//
// Verified tokens are cached by the SHA-256 of the token (never the token itself) until they
// expire, so a busy client costs one signature check per token, not per request. Failures are
// cached only for a few seconds.
//
// The package also serves RFC 9728 protected resource metadata, from which MCP clients discover
// the authorization server ([Authenticator.MetadataHandler]), and builds the WWW-Authenticate
// challenge the MCP authorization specification asks for. For the upstream side it provides
// [StripCredentials] and [UpstreamCredentials]: the client's credential is never forwarded, and
// each upstream gets its own (a static header, an environment variable, or an OAuth client
// credentials token cached until shortly before it expires).
//
// README.md in this directory lists the configuration and metrics; docs/authentication.md is the
// operator's guide.
package auth
