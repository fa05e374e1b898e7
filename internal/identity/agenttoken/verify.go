package agenttoken

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Verifier checks tokens of exactly one scheme against one key. It is safe for concurrent use.
type Verifier struct {
	scheme Scheme
	alg    jwa.SignatureAlgorithm
	key    any    // []byte for hmac, ed25519.PublicKey for ed25519
	kid    string // KeyID of the public key; ed25519 only
	sigLen int
}

// NewHMACVerifier returns a verifier of hmac tokens signed with secret (at least MinSecretBytes;
// copied). It refuses every ed25519 token.
func NewHMACVerifier(secret []byte) (*Verifier, error) {
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	return &Verifier{scheme: SchemeHMAC, alg: jwa.HS256(), key: append([]byte(nil), secret...), sigLen: 32}, nil
}

// NewEd25519Verifier returns a verifier of ed25519 tokens signed by the private half of pub. It
// refuses every hmac token, including one whose HMAC key is the bytes of pub.
func NewEd25519Verifier(pub ed25519.PublicKey) (*Verifier, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("agent token: an Ed25519 public key is %d bytes, got %d", ed25519.PublicKeySize, len(pub))
	}
	key := append(ed25519.PublicKey(nil), pub...)
	return &Verifier{scheme: SchemeEd25519, alg: jwa.EdDSA(), key: key, kid: KeyID(key), sigLen: ed25519.SignatureSize}, nil
}

// Scheme is the only scheme v accepts.
func (v *Verifier) Scheme() Scheme { return v.scheme }

// KeyID names v's public key (ed25519), or is empty (hmac).
func (v *Verifier) KeyID() string { return v.kid }

// allowedHeader are the protected header members a token may carry. Anything else (crit, jku, jwk,
// x5u, b64, …) asks the verifier to fetch keys or change how it verifies, which gatehouse never does.
var allowedHeader = map[string]bool{"alg": true, "typ": true, "kid": true}

// Verify checks token at now and returns its claims, or an *Error saying why it is refused. The
// checks run cheapest and most telling first: size, shape, algorithm and type from the header, the
// signature, then the signed claims and their times (with ClockSkew of tolerance).
func (v *Verifier) Verify(token string, now time.Time) (*Claims, error) {
	if token == "" {
		return nil, refuse(CodeEmpty, "is missing")
	}
	if len(token) > MaxTokenBytes {
		return nil, refuse(CodeTooLarge, fmt.Sprintf("is %d bytes, more than the %d accepted", len(token), MaxTokenBytes))
	}
	parts, rerr := split(token)
	if rerr != nil {
		return nil, rerr
	}
	hdr, err := object(parts.header)
	if err != nil {
		return nil, refuse(CodeMalformed, fmt.Sprintf("header is not a JSON object: %v", err))
	}
	if rerr := v.checkHeader(hdr); rerr != nil {
		return nil, rerr
	}
	if len(parts.sig) != v.sigLen {
		return nil, refuse(CodeMalformed, fmt.Sprintf("signature is %d bytes, an %s signature is %d (was the token cut short?)", len(parts.sig), v.alg, v.sigLen))
	}
	if _, err := jws.VerifyCompactFast(v.key, []byte(token), v.alg); err != nil {
		if kid, _, _ := str(hdr, "kid"); v.kid != "" && kid != "" && kid != v.kid {
			return nil, refuse(CodeWrongKey, fmt.Sprintf("is signed by key %s, but this gatehouse trusts key %s", kid, v.kid))
		}
		return nil, refuse(CodeBadSignature, "signature does not verify: the token was altered or signed with another key")
	}
	c, rerr := v.claims(parts.payload)
	if rerr != nil {
		return nil, rerr
	}
	if err := checkTimes(c, now, ClockSkew); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckTimes refuses claims that have expired or are not valid yet at now, as Verify does. It is
// for callers that keep verified claims and need to re-check them on later calls.
func (v *Verifier) CheckTimes(c *Claims, now time.Time) error { return checkTimes(c, now, ClockSkew) }

// checkHeader checks alg, typ and the header members before any signature work.
func (v *Verifier) checkHeader(hdr map[string]json.RawMessage) *Error {
	alg, ok, err := str(hdr, "alg")
	switch {
	case err != nil:
		return refuse(CodeMalformed, "header: "+err.Error())
	case !ok || alg == "":
		return refuse(CodeMalformed, `header has no "alg"`)
	case strings.EqualFold(alg, "none"):
		return refuse(CodeUnsigned, `is unsigned ("alg":"none")`)
	case alg != v.alg.String():
		if s := schemeOfAlg(alg); s != "" {
			return refuse(CodeWrongScheme, fmt.Sprintf("is signed with %s (scheme %s), but this gatehouse accepts only %s tokens (%s)", alg, s, v.scheme, v.alg))
		}
		return refuse(CodeWrongScheme, fmt.Sprintf("is signed with %q, which no gatehouse scheme uses; this gatehouse accepts only %s tokens (%s)", alg, v.scheme, v.alg))
	}
	typ, ok, err := str(hdr, "typ")
	switch {
	case err != nil:
		return refuse(CodeMalformed, "header: "+err.Error())
	case !ok:
		return refuse(CodeWrongType, fmt.Sprintf(`has no "typ" header: want %q (is it a gatehouse agent token?)`, Type))
	case !strings.EqualFold(typ, Type):
		return refuse(CodeWrongType, fmt.Sprintf("has type %q, want %q (is it a gatehouse agent token?)", typ, Type))
	}
	if _, _, err := str(hdr, "kid"); err != nil {
		return refuse(CodeMalformed, "header: "+err.Error())
	}
	var extra []string
	for name := range hdr {
		if !allowedHeader[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return refuse(CodeMalformed, fmt.Sprintf("header has member(s) %s that gatehouse does not accept (only alg, typ and kid)", strings.Join(extra, ", ")))
	}
	return nil
}

// claims decodes and checks the signed payload.
func (v *Verifier) claims(payload []byte) (*Claims, *Error) {
	bad := func(err error) *Error { return refuse(CodeInvalidClaims, "claims: "+err.Error()) }
	m, err := object(payload)
	if err != nil {
		return nil, bad(fmt.Errorf("not a JSON object: %w", err))
	}
	scheme, ok, err := str(m, "scheme")
	switch {
	case err != nil:
		return nil, bad(err)
	case !ok:
		return nil, refuse(CodeSchemeMismatch, fmt.Sprintf(`has no "scheme" claim; a %s token must say "scheme":%q`, v.scheme, v.scheme))
	case Scheme(scheme) != v.scheme:
		return nil, refuse(CodeSchemeMismatch, fmt.Sprintf("claims scheme %q but is signed with %s (scheme %s)", scheme, v.alg, v.scheme))
	}
	c := &Claims{Scheme: v.scheme}
	if c.AgentID, _, err = str(m, "sub"); err != nil {
		return nil, bad(err)
	}
	if c.AgentID == "" {
		return nil, refuse(CodeNoSubject, `names no agent (the "sub" claim is missing or empty)`)
	}
	if c.Expiry, ok, err = numericDate(m, "exp"); err != nil {
		return nil, bad(err)
	} else if !ok {
		return nil, refuse(CodeNoExpiry, `has no expiry ("exp"): gatehouse accepts no token that is valid forever`)
	}
	if c.NotBefore, _, err = numericDate(m, "nbf"); err != nil {
		return nil, bad(err)
	}
	if c.IssuedAt, _, err = numericDate(m, "iat"); err != nil {
		return nil, bad(err)
	}
	if c.Roles, err = strs(m, "roles"); err != nil {
		return nil, bad(err)
	}
	if c.Tenant, ok, err = str(m, "tenant"); err != nil {
		return nil, bad(err)
	} else if ok && c.Tenant == "" {
		return nil, bad(fmt.Errorf(`"tenant" is empty`))
	}
	if c.ID, ok, err = str(m, "jti"); err != nil {
		return nil, bad(err)
	} else if ok && c.ID == "" {
		return nil, bad(fmt.Errorf(`"jti" is empty`))
	}
	if err := c.checkNames(); err != nil {
		return nil, bad(err)
	}
	return c, nil
}
