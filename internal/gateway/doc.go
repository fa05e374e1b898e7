// Package gateway joins a downstream client to an upstream server through the decision pipeline. It
// owns the parts of the request path that are about exchanges rather than single messages: matching
// responses to requests by id (SPEC §2.3), applying a decision's rewrites to the frame, the response
// path and list filtering (SPEC §3.2, §3.4), and the rule that nothing reaches the client before its
// audit record is durable (SPEC §12.2).
//
// chain.go is the one place where the security order of the stages is written down.
package gateway
