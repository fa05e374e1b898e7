package auth_test

import (
	"github.com/gatehouse-mcp/gatehouse/internal/auth"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// The gateway uses these types through the transports' own hooks; these guards fail to compile if
// either side changes shape.
var (
	_ streamable.Authenticator = (*auth.Authenticator)(nil)
	_                          = upstream.Client{Authorize: (*auth.UpstreamCredentials)(nil).Apply}
)
