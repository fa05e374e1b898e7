// Package tenancy scopes requests to engagements, gatehouse's tenants (SPEC §8.1, §8.2). It resolves
// the engagement of an HTTP request from the caller's token, the URL path or a trusted proxy's
// header; holds every engagement's tool allowlist, persisted across restarts; and serves the admin API
// that reads and changes the allowlists, auditing every change.
//
// The pipeline stage that enforces the allowlists is package stage/tenancy; this package holds the
// state and the HTTP edges.
package tenancy
