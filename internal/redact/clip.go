package redact

import "strings"

// Clip returns s cut to at most n bytes, at a character boundary, with "..." appended when it was
// cut: for a log line that carries a name a peer chose (a method, a tool, a tenant), which can be
// as long as a whole message.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
