package identity

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// TokenSource returns the agent token a call presents, or "" when it presents none.
type TokenSource func(c *pipeline.Call) string

// StaticToken is the TokenSource of the stdio wrapper: the one token given at start-up
// (--agent-token or GATEHOUSE_AGENT_TOKEN) is the credential of every call.
func StaticToken(token string) TokenSource {
	return func(*pipeline.Call) string { return token }
}

// TokenOptions configures a Token stage.
type TokenOptions struct {
	// Verifier checks tokens; it accepts exactly one scheme. Required.
	Verifier *agenttoken.Verifier
	// Source finds the call's token. Required.
	Source TokenSource
	// Optional lets a call that presents no token through as anonymous (empty agent and user).
	// A call that presents an invalid token is refused either way. The default, false, refuses
	// every call without a valid token.
	Optional bool
	// Now is the clock expiry is checked against; nil is time.Now.
	Now func() time.Time
}

// Token is the identity stage for callers that prove who they are with a signed agent token
// (SPEC §7.1). It sets input.agent and input.user to the principal the token names, and
// input.tenant when the token names one; without a valid token the call is refused unauthenticated.
// The expiry is checked on every call, so a long stdio session stops when its token expires.
type Token struct {
	opts TokenOptions
	// last remembers the most recently verified token, so that a token presented on every call
	// (always, on stdio) costs a string comparison and a time check, not a signature check.
	last atomic.Pointer[verified]
}

// verified is a token that passed verification, with the principal it stands for.
type verified struct {
	token     string
	claims    *agenttoken.Claims
	principal policy.Principal
}

var _ pipeline.Stage = (*Token)(nil)

// NewToken returns the token identity stage.
func NewToken(opts TokenOptions) (*Token, error) {
	if opts.Verifier == nil || opts.Source == nil {
		return nil, errors.New("identity: the token stage needs a Verifier and a Source")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Token{opts: opts}, nil
}

// Name implements pipeline.Stage.
func (*Token) Name() string { return "identity" }

// Handle implements pipeline.Stage.
func (t *Token) Handle(ctx context.Context, c *pipeline.Call, next pipeline.Handler) error {
	tok := t.opts.Source(c)
	if tok == "" && t.opts.Optional {
		return next(ctx, c)
	}
	v, err := t.verify(tok)
	if err != nil {
		c.Refuse(t.Name(), policy.CodeUnauthenticated, err.Error())
		return nil
	}
	c.Input.Agent = v.principal
	c.Input.User = v.principal
	if v.claims.Tenant != "" {
		c.Input.Tenant = v.claims.Tenant
	}
	return next(ctx, c)
}

// verify returns the verified form of tok, from the one-entry cache when tok is the token verified
// last, re-checking its times.
func (t *Token) verify(tok string) (*verified, error) {
	now := t.opts.Now()
	if last := t.last.Load(); last != nil && last.token == tok {
		if err := t.opts.Verifier.CheckTimes(last.claims, now); err != nil {
			return nil, err
		}
		return last, nil
	}
	claims, err := t.opts.Verifier.Verify(tok, now)
	if err != nil {
		return nil, err
	}
	v := &verified{token: tok, claims: claims, principal: PrincipalOf(claims)}
	t.last.Store(v)
	return v, nil
}

// VerifyToken verifies token once, at start-up, and returns the principal it names. A stdio
// wrapper calls it before starting the server, so that a missing, expired, forged or
// wrong-scheme token stops gatehouse with the token's refusal (an *agenttoken.Error) instead of
// refusing every call later.
func VerifyToken(v *agenttoken.Verifier, token string, now time.Time) (policy.Principal, *agenttoken.Claims, error) {
	claims, err := v.Verify(token, now)
	if err != nil {
		return policy.Principal{}, nil, err
	}
	return PrincipalOf(claims), claims, nil
}

// PrincipalOf is the principal a verified token stands for: ID and Roles from the token, and
// Claims holding what else it vouches for, for rules (agent.claims.<name>) and Rego
// (input.agent.claims): scheme, tenant (when set), jti, and iat, nbf (when set) and exp as
// json.Number seconds since the epoch, the way every number in the decision input is represented.
func PrincipalOf(c *agenttoken.Claims) policy.Principal {
	claims := map[string]any{
		"scheme": string(c.Scheme),
		"exp":    unixNumber(c.Expiry),
	}
	if c.Tenant != "" {
		claims["tenant"] = c.Tenant
	}
	if c.ID != "" {
		claims["jti"] = c.ID
	}
	if !c.IssuedAt.IsZero() {
		claims["iat"] = unixNumber(c.IssuedAt)
	}
	if !c.NotBefore.IsZero() {
		claims["nbf"] = unixNumber(c.NotBefore)
	}
	return policy.Principal{ID: c.AgentID, Roles: append([]string{}, c.Roles...), Claims: claims}
}

func unixNumber(t time.Time) json.Number { return json.Number(strconv.FormatInt(t.Unix(), 10)) }
