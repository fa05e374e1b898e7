// Package upstream runs the MCP servers gatehouse stands in front of. Stdio supervises one server
// process: it starts it, frames its stdout into messages, sends its stderr to the log, notices when it
// exits, and starts it again with exponential backoff, so that a crashing server costs its in-flight
// requests and never the gateway (SPEC §2.4).
//
// Supervision reports what happens as an ordered stream of events (started, frame, exited) on one
// channel. The gateway consumes that stream in a single goroutine, which is what lets it match every
// response to the process generation that produced it without locks around process state.
package upstream
