// Package streamable is gatehouse's Streamable HTTP server: the MCP endpoint clients talk to in
// `gatehouse serve`, in both eras of the protocol (SPEC §2.1, §2.4). It owns only HTTP concerns —
// methods, Origin and Host checks against DNS rebinding, body limits enforced while reading,
// Content-Type, legacy sessions (Mcp-Session-Id, GET streams, DELETE, SSE event ids and Last-Event-ID
// resumption from a bounded per-session replay buffer), the 2026-07-28 header checks
// (MCP-Protocol-Version, Mcp-Method and Mcp-Name against the body), and writing an answer either as
// one JSON message or as a Server-Sent Events stream — and hands every message it accepts to a
// Backend, which decides, routes and answers it.
//
// Keeping HTTP here and policy in the gateway means the security checks that must happen before a
// message is even parsed (origin, size, session) cannot be skipped by a routing change, and the
// gateway can be tested without sockets.
package streamable
