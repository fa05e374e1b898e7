package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// decodeClaims decodes a JWT payload into exact-key maps (never struct decoding, which matches
// names case-insensitively) with numbers kept as json.Number, as the rest of gatehouse does.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("claims are not a JSON object: %w", err)
	}
	if claims == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the claims")
	}
	return claims, nil
}

// lookup finds a claim by dotted path (realm_access.roles). A top-level claim whose whole name is
// the path is found first, so namespaced claims such as https://example.com/roles work unquoted.
func lookup(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	for seg := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringsOf reads a claim as a list of names: an array contributes its string elements, a string
// is split on spaces (the RFC 9068 scope format). Anything else contributes nothing.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// appendUnique appends the names not already in dst.
func appendUnique(dst []string, names ...string) []string {
	for _, n := range names {
		dup := false
		for _, d := range dst {
			if d == n {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, n)
		}
	}
	return dst
}

// maxNumericDate is the year 5138: any later exp is an attempt to overflow, not a real token.
const maxNumericDate = 1e11

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds since the epoch, possibly with a
// fraction). present is false when the claim is absent.
func numericDate(claims map[string]any, name string) (t time.Time, present bool, err error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, true, fmt.Errorf("claim %s is not a number", name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, fmt.Errorf("claim %s is not a valid date: %s", name, n)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audiences reads the aud claim: a string or an array of strings (RFC 7519 §4.1.3).
func audiences(claims map[string]any) ([]string, error) {
	switch v := claims["aud"].(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("claim aud holds a non-string")
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, errors.New("claim aud is missing")
	}
	return nil, errors.New("claim aud is neither a string nor an array")
}

// sameResource compares resource identifiers. Scheme and host are compared case-insensitively, as
// the MCP authorization specification asks of canonical URIs; everything else exactly.
func sameResource(a, b string) bool {
	if a == b {
		return true
	}
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.Host == "" || ub.Host == "" {
		return false
	}
	ua.Host, ub.Host = strings.ToLower(ua.Host), strings.ToLower(ub.Host)
	return ua.String() == ub.String()
}
