package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// ChallengeHeader returns the HTTP status and the WWW-Authenticate value for an authentication
// failure, as RFC 6750 §3 and the MCP authorization specification describe them:
//
//	401, no credential:   Bearer resource_metadata="…", scope="…"
//	401, bad credential:  Bearer resource_metadata="…", error="invalid_token", error_description="…", scope="…"
//	403, missing scope:   Bearer resource_metadata="…", error="insufficient_scope", error_description="…", scope="<required scopes>"
//	400, two credentials: Bearer resource_metadata="…", error="invalid_request", error_description="…"
//
// resource_metadata is present when resource.uri is configured. The scope of a 401 is
// jwt.required_scopes, or else resource.scopes_supported, the hint MCP clients request first. An
// error that is not an *Error is treated as an invalid credential.
func (a *Authenticator) ChallengeHeader(err error) (status int, value string) {
	var e *Error
	if !errors.As(err, &e) {
		e = errInvalid(err)
	}
	var params []string
	if a.meta != nil {
		params = append(params, param("resource_metadata", a.meta.url))
	}
	if e.Code != "" {
		params = append(params, param("error", e.Code), param("error_description", e.Description))
	}
	scope := a.hintScope
	if e.Code == CodeInsufficientScope {
		scope = a.requiredScope
	}
	if scope != "" && e.Code != CodeInvalidRequest {
		params = append(params, param("scope", scope))
	}
	value = "Bearer"
	if len(params) > 0 {
		value += " " + strings.Join(params, ", ")
	}
	return e.Status, value
}

// Challenge answers a request that failed authentication: the WWW-Authenticate header, the status
// of err, and a JSON-RPC error body (id null: the body was not read) with reason unauthenticated and
// the generic description as detail. Nothing about why a credential failed reaches the client.
func (a *Authenticator) Challenge(w http.ResponseWriter, err error) {
	status, value := a.ChallengeHeader(err)
	var e *Error
	detail := descInvalid
	if errors.As(err, &e) {
		detail = e.Description
	}
	h := w.Header()
	h.Set("WWW-Authenticate", value)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(jsonrpc.Refusal(jsonrpc.ID{}, jsonrpc.ErrorData{Reason: policy.CodeUnauthenticated, Detail: detail}))
}

// param formats one auth-param with a quoted-string value (RFC 9110 §11.2), escaping '"' and '\'
// and dropping control characters. Every value is configuration or a fixed sentence, but a header
// is the wrong place to trust that.
func param(name, value string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
