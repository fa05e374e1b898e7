package tenancy

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Source is a place an engagement may come from.
type Source string

// The sources of an engagement (SPEC §8.1).
const (
	// SourceToken is the tenant claim of the caller's verified token (or its API key's tenant).
	SourceToken Source = "token"
	// SourcePath is the {engagement} of the URL path /e/{engagement}/mcp.
	SourcePath Source = "path"
	// SourceHeader is a header set by a trusted front proxy; from any other peer it is refused.
	SourceHeader Source = "header"
)

// DefaultHeader is the header a trusted proxy names the engagement in.
const DefaultHeader = "X-Gatehouse-Engagement"

// Resolver finds the engagement of a request. The zero Resolver honours no source and has no
// default: every request is refused, so configure one deliberately.
type Resolver struct {
	// Sources are the sources honoured. When several are present on one request they must agree.
	Sources []Source
	// Header is the trusted proxies' header; default DefaultHeader.
	Header string
	// TrustedProxies are the peers whose Header is believed. A request from any other peer that
	// carries the header is refused: it is an attempt to choose an engagement.
	TrustedProxies []netip.Prefix
	// Default is the engagement of a request no source names; empty refuses such requests.
	Default string
}

// Uses reports whether s is honoured.
func (rv *Resolver) Uses(s Source) bool { return slices.Contains(rv.Sources, s) }

// Resolve returns the engagement of r given the tenant of its token and the engagement of its path
// (either may be empty). problem is non-empty, and engagement empty, when the request must be
// refused as cross_tenant: its sources disagree, a value is not a valid id, an untrusted peer sent the
// header, or nothing names an engagement and there is no default. problem never holds a credential.
func (rv *Resolver) Resolve(r *http.Request, token, path string) (engagement, problem string) {
	type claim struct {
		src Source
		id  string
	}
	var claims []claim
	if rv.Uses(SourceToken) && token != "" {
		claims = append(claims, claim{SourceToken, token})
	}
	if path != "" {
		if !rv.Uses(SourcePath) {
			return "", "engagement paths are not enabled on this gateway"
		}
		claims = append(claims, claim{SourcePath, path})
	}
	header := rv.Header
	if header == "" {
		header = DefaultHeader
	}
	if vs := r.Header.Values(header); len(vs) > 0 {
		switch {
		case !rv.Uses(SourceHeader):
			return "", fmt.Sprintf("the %s header is not accepted by this gateway", header)
		case !rv.trusted(r.RemoteAddr):
			return "", fmt.Sprintf("the %s header is accepted only from trusted proxies", header)
		case len(vs) > 1:
			return "", fmt.Sprintf("the %s header appears %d times", header, len(vs))
		}
		claims = append(claims, claim{SourceHeader, strings.TrimSpace(vs[0])})
	}
	for _, c := range claims {
		if err := ValidID(c.id); err != nil {
			return "", fmt.Sprintf("%s: %v", c.src, err)
		}
		if c.id != claims[0].id {
			return "", fmt.Sprintf("the %s names engagement %q but the %s names %q", claims[0].src, claims[0].id, c.src, c.id)
		}
	}
	if len(claims) > 0 {
		return claims[0].id, ""
	}
	if rv.Default != "" {
		return rv.Default, ""
	}
	return "", "the request names no engagement"
}

// trusted reports whether the peer at remote (host:port, as net/http gives it) is a trusted proxy.
func (rv *Resolver) trusted(remote string) bool {
	// net/http always gives ip:port; anything else ("10.0.0.1:", a name) is not a peer we know.
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range rv.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
