package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

// jwtVerifier checks bearer JWTs: header, key, signature, then claims, in that order, so that no
// claim is believed before the signature over it has been checked.
type jwtVerifier struct {
	issuer    string
	audiences []string
	algs      map[string]jwa.SignatureAlgorithm // the allow-list
	static    *keySet                           // PEM keys and HMAC secrets; nil if none
	jwks      *jwksSource                       // nil without a JWKS URL
	skew      time.Duration
	types     []string // allowed typ values, lowercased without "application/"; nil for any
	subject   string
	roles     []string
	scope     string
	tenant    string
	required  []string

	// verifications counts signature checks, so tests can prove a cache hit does none.
	verifications atomic.Int64
}

// header is the JOSE header fields the verifier acts on.
type header struct {
	alg, kid, typ string
}

var b64 = base64.RawURLEncoding.Strict()

// parseHeader splits a compact JWS and reads its protected header. It refuses anything that is not
// exactly three non-empty base64url parts, and headers gatehouse does not understand: "crit" names
// extensions a recipient must understand or refuse (RFC 7515 §4.1.11), and "b64" changes what is
// signed (RFC 7797).
func parseHeader(token string) (header, error) {
	var h header
	if strings.Count(token, ".") != 2 {
		return h, errors.New("not a compact JWS: want three dot-separated parts")
	}
	parts := strings.SplitN(token, ".", 3)
	for i, p := range parts {
		if p == "" {
			return h, fmt.Errorf("part %d of the JWS is empty", i+1)
		}
		for j := 0; j < len(p); j++ {
			if c := p[j]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return h, fmt.Errorf("part %d of the JWS is not base64url", i+1)
			}
		}
	}
	raw, err := b64.DecodeString(parts[0])
	if err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return h, errors.New("header is not a JSON object")
	}
	for _, refused := range []string{"crit", "b64"} {
		if _, ok := fields[refused]; ok {
			return h, fmt.Errorf("header parameter %q is not supported", refused)
		}
	}
	str := func(name string, required bool) (string, error) {
		v, ok := fields[name]
		if !ok {
			if required {
				return "", fmt.Errorf("header has no %s", name)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("header %s is not a string", name)
		}
		return s, nil
	}
	if h.alg, err = str("alg", true); err != nil {
		return h, err
	}
	if h.kid, err = str("kid", false); err != nil {
		return h, err
	}
	if h.typ, err = str("typ", false); err != nil {
		return h, err
	}
	return h, nil
}

// verify checks one token at now. Every failure is an *Error whose cause says exactly why.
func (v *jwtVerifier) verify(ctx context.Context, token string, now time.Time) (*Identity, *Error) {
	h, err := parseHeader(token)
	if err != nil {
		return nil, errInvalid(err)
	}
	alg, ok := v.algs[h.alg]
	if !ok {
		// This is where alg "none" ends, and an HS256 token when no HMAC secret is configured.
		return nil, errInvalid(fmt.Errorf("algorithm %q is not allowed", h.alg))
	}
	if v.types != nil && !containsFold(v.types, normalizeType(h.typ)) {
		return nil, errInvalid(fmt.Errorf("token type %q is not allowed", h.typ))
	}
	keys, aerr := v.keysFor(ctx, h)
	if aerr != nil {
		return nil, aerr
	}
	var payload []byte
	for _, k := range keys {
		v.verifications.Add(1)
		// The algorithm is the one the allow-list approved and the key fits; jwx checks the key
		// type against it once more.
		payload, err = jws.Verify([]byte(token), jws.WithCompact(), jws.WithKey(alg, k.raw))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, errInvalid(fmt.Errorf("signature does not verify with %d candidate key(s) (kid %q, alg %s): %w", len(keys), h.kid, h.alg, err))
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, errInvalid(err)
	}
	return v.checkClaims(claims, now)
}

// keysFor finds the keys that may verify a token with this header: those with its kid (or every key
// when it has none) whose type fits its alg.
func (v *jwtVerifier) keysFor(ctx context.Context, h header) ([]*verifyKey, *Error) {
	keys, known, reason := v.static.candidates(h.kid, h.alg, nil)
	if v.jwks != nil {
		var aerr *Error
		if keys, aerr = v.jwksCandidates(ctx, h, keys, known, &reason); aerr != nil {
			return nil, aerr
		}
	}
	if len(keys) == 0 {
		if reason == nil {
			reason = errors.New("no key")
		}
		return nil, errInvalid(fmt.Errorf("no key can verify kid %q with %s: %w", h.kid, h.alg, reason))
	}
	if h.kid == "" && len(keys) > maxKidlessCandidates {
		return nil, errInvalid(fmt.Errorf("token has no kid and %d keys could verify it; refusing to try them all", len(keys)))
	}
	return keys, nil
}

// jwksCandidates adds the JWKS keys for h to keys. A kid that neither the static keys nor the JWKS
// know refreshes the JWKS, within the rate limit.
func (v *jwtVerifier) jwksCandidates(ctx context.Context, h header, keys []*verifyKey, staticKnown bool, reason *error) ([]*verifyKey, *Error) {
	set, err := v.jwks.current(ctx)
	if err != nil {
		if len(keys) > 0 {
			return keys, nil // a static key can still decide
		}
		return nil, errUnverifiable(err)
	}
	keys, known, r := set.candidates(h.kid, h.alg, keys)
	if h.kid != "" && !staticKnown && !known {
		newer, err := v.jwks.refreshForKid(ctx, set)
		switch {
		case errors.Is(err, errRateLimited):
			return nil, errUnknownKey(fmt.Errorf("unknown kid %q, and the JWKS was fetched too recently to fetch it again", h.kid))
		case err != nil:
			return nil, errUnverifiable(fmt.Errorf("unknown kid %q, and the JWKS refresh failed: %w", h.kid, err))
		}
		if keys, known, r = newer.candidates(h.kid, h.alg, keys); !known {
			return nil, errUnknownKey(fmt.Errorf("unknown kid %q, even after refreshing the JWKS", h.kid))
		}
	}
	if r != nil {
		*reason = r
	}
	return keys, nil
}

// checkClaims applies the claim rules to verified claims.
func (v *jwtVerifier) checkClaims(claims map[string]any, now time.Time) (*Identity, *Error) {
	if iss, _ := claims["iss"].(string); iss != v.issuer {
		return nil, errInvalid(fmt.Errorf("issuer %q is not %q", iss, v.issuer))
	}
	auds, err := audiences(claims)
	if err != nil {
		return nil, errInvalid(err)
	}
	if !v.audienceOK(auds) {
		return nil, errInvalid(fmt.Errorf("audience %q does not include this resource (%q)", auds, v.audiences))
	}
	exp, ok, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return nil, errInvalid(err)
	case !ok:
		// A token that never expires could never leave the cache and never be revoked by time.
		return nil, errInvalid(errors.New("claim exp is missing"))
	case !now.Before(exp.Add(v.skew)):
		return nil, errExpiredToken(fmt.Errorf("expired at %s (now %s, skew %s)", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.skew))
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return nil, errInvalid(err)
	} else if ok && now.Add(v.skew).Before(nbf) {
		return nil, errInvalid(fmt.Errorf("not valid before %s (now %s, skew %s)", nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.skew))
	}
	if iat, ok, err := numericDate(claims, "iat"); err != nil {
		return nil, errInvalid(err)
	} else if ok && now.Add(v.skew).Before(iat) {
		return nil, errInvalid(fmt.Errorf("issued in the future, at %s (now %s, skew %s)", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.skew))
	} else if ok && exp.Before(iat) {
		return nil, errInvalid(errors.New("expires before it was issued"))
	}
	sub, _ := lookup(claims, v.subject)
	subject, _ := sub.(string)
	if strings.TrimSpace(subject) == "" {
		return nil, errInvalid(fmt.Errorf("claim %s is missing or not a string", v.subject))
	}
	roles := []string{}
	for _, path := range v.roles {
		if r, ok := lookup(claims, path); ok {
			roles = appendUnique(roles, stringsOf(r)...)
		}
	}
	var scopes []string
	if s, ok := lookup(claims, v.scope); ok {
		scopes = appendUnique(nil, stringsOf(s)...)
	}
	var missing []string
	for _, want := range v.required {
		if !slices.Contains(scopes, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return nil, errScope(fmt.Errorf("scopes %q are missing", missing))
	}
	tenant := ""
	if v.tenant != "" {
		t, _ := lookup(claims, v.tenant)
		tenant, _ = t.(string)
	}
	return &Identity{
		Principal: policy.Principal{ID: subject, Roles: roles, Claims: claims},
		Tenant:    tenant,
		Scopes:    scopes,
		Method:    MethodJWT,
		Expires:   exp,
	}, nil
}

func (v *jwtVerifier) audienceOK(auds []string) bool {
	for _, a := range auds {
		for _, want := range v.audiences {
			if sameResource(a, want) {
				return true
			}
		}
	}
	return false
}

// normalizeType lowercases a typ value and drops the optional "application/" (RFC 7515 §4.1.9).
func normalizeType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
