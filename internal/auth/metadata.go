package auth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// WellKnownPath is where RFC 9728 protected resource metadata lives. For a resource with a path
// (https://host/mcp) the metadata is at WellKnownPath followed by that path
// (https://host/.well-known/oauth-protected-resource/mcp); MCP clients try that first and then
// WellKnownPath alone, so the handler answers both.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// ProtectedResourceMetadata is the RFC 9728 §2 metadata document, as served.
type ProtectedResourceMetadata struct {
	// Resource is the resource identifier: resource.uri.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers clients may get tokens from.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scopes a client needs for basic use.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported is always ["header"].
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// ResourceName is a human-readable name.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of developer documentation.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	// ResourcePolicyURI is a URL of the data-use policy.
	ResourcePolicyURI string `json:"resource_policy_uri,omitempty"`
	// ResourceTOSURI is a URL of the terms of service.
	ResourceTOSURI string `json:"resource_tos_uri,omitempty"`
}

// metadata is the document, encoded once, and where it is served.
type metadata struct {
	body  []byte
	paths []string // request paths answered
	url   string   // resource_metadata in challenges
}

// newMetadata builds the document from a normalized, valid configuration; nil without resource.uri.
func newMetadata(c *Config) *metadata {
	if c.Resource.URI == "" {
		return nil
	}
	doc := ProtectedResourceMetadata{
		Resource:             c.Resource.URI,
		AuthorizationServers: c.Resource.AuthorizationServers,
		ScopesSupported:      c.Resource.ScopesSupported,
		// Only the Authorization header: the MCP authorization specification forbids tokens in the
		// query string, and form bodies are JSON-RPC here.
		BearerMethodsSupported: []string{"header"},
		ResourceName:           c.Resource.Name,
		ResourceDocumentation:  c.Resource.Documentation,
		ResourcePolicyURI:      c.Resource.PolicyURI,
		ResourceTOSURI:         c.Resource.TOSURI,
	}
	body, _ := json.Marshal(doc) // strings and string slices: cannot fail
	u, _ := url.Parse(c.Resource.URI)
	suffix := strings.TrimSuffix(u.EscapedPath(), "/")
	m := &metadata{body: body, paths: []string{WellKnownPath}, url: c.Resource.MetadataURL}
	if suffix != "" {
		m.paths = append(m.paths, WellKnownPath+suffix)
	}
	if m.url == "" {
		// RFC 9728 §3.1: the well-known path goes between the host and the resource's path.
		m.url = u.Scheme + "://" + u.Host + WellKnownPath + suffix
	}
	return m
}

// MetadataURL is the URL of the protected resource metadata given to clients in challenges; empty
// when resource.uri is not configured.
func (a *Authenticator) MetadataURL() string {
	if a.meta == nil {
		return ""
	}
	return a.meta.url
}

// MetadataHandler serves the protected resource metadata (RFC 9728) at WellKnownPath and at
// WellKnownPath followed by the resource's path; any other path, or no resource.uri configured, is
// 404. Mount it on both WellKnownPath and WellKnownPath+"/", outside authentication: clients fetch it
// before they have a token. The document is public, so any origin may read it (CORS), which
// browser-based MCP clients need.
func (a *Authenticator) MetadataHandler() http.Handler { return metadataHandler{a.meta} }

type metadataHandler struct{ m *metadata }

var _ http.Handler = metadataHandler{}

// ServeHTTP implements http.Handler.
func (h metadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.m == nil || !slices.Contains(h.m.paths, r.URL.EscapedPath()) {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "*")
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "public, max-age=300")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, _ = w.Write(h.m.body)
}
