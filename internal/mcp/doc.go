// Package mcp knows the Model Context Protocol just well enough for gatehouse's stages: the method
// names, which requests are decided by policy (SPEC §2.6), which eras a message belongs to (SPEC §2.1),
// and how to read the few params fields a decision needs. Everything else in a message is left as the
// bytes received, so that unknown methods, unknown _meta keys and extensions pass through untouched.
//
// Params are decoded through maps keyed by the exact member names: Go's struct decoding matches names
// case-insensitively, which would let {"name":"drop","Name":"read"} show policy one tool while the
// upstream, reading the exact key, calls another.
package mcp
