// Package jsonrpc reads and writes the JSON-RPC 2.0 frames MCP is made of, strictly, and is the only
// place in gatehouse where wire errors are built.
//
// Strictness is a security property here, not pedantry. A gateway that decides on one reading of a
// message while the upstream acts on another can be walked around: duplicate object members, invalid
// UTF-8 and escaped member names are the classic parser-differential tricks. Parse therefore refuses any
// frame that two reasonable JSON parsers could read differently, bounds nesting depth before any
// recursive work, and decodes only the envelope. The payload stays as the bytes received, so a frame
// that no decision rewrites is forwarded byte for byte (SPEC §2.2), and a rewrite splices new bytes into
// a copy instead of re-encoding the whole message.
package jsonrpc
