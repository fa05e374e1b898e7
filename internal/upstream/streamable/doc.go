// Package streamable is gatehouse's client for upstream MCP servers that speak Streamable HTTP, in
// both eras: the 2026-07-28 stateless form (per-request headers, no sessions) and the legacy form of
// 2025-03-26 to 2025-11-25 (Mcp-Session-Id, a GET stream for server-initiated messages, DELETE).
//
// A request's answer is either one JSON message or a Server-Sent Events stream of messages ending in
// the response; Response hides the difference behind Next, so the gateway can relay notifications as
// they arrive and hold only the final response for its decision and audit.
//
// Every upstream request is built from scratch: nothing the downstream client sent — in particular
// its Authorization header — is copied. Upstream credentials come only from the upstream's own
// configuration (SPEC §7.3).
package streamable
