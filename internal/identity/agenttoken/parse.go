package agenttoken

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// b64 is the only base64 spelling a token may use: URL alphabet, no padding, and zero trailing
// bits. Strict decoding matters: with lenient decoding two different strings decode to the same
// signature, and a mutated token would verify.
var b64 = base64.RawURLEncoding.Strict()

// compact is a token split into its three parts, each decoded.
type compact struct {
	header, payload, sig []byte
}

// split splits and decodes a compact JWS without interpreting it.
func split(token string) (*compact, *Error) {
	// The base64 decoder skips CR and LF even in strict mode; a token is refused if it has any byte
	// outside the base64url alphabet and the dots, so that one token has exactly one spelling.
	for i := 0; i < len(token); i++ {
		if !tokenByte[token[i]] {
			return nil, refuse(CodeMalformed, fmt.Sprintf("has the byte %#02x at offset %d, outside the base64url alphabet", token[i], i))
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, refuse(CodeMalformed, fmt.Sprintf("is not a compact JWS: it has %d part(s) separated by dots, want 3 (was it cut short?)", len(parts)))
	}
	var c compact
	for i, dst := range []*[]byte{&c.header, &c.payload, &c.sig} {
		b, err := b64.DecodeString(parts[i])
		if err != nil {
			return nil, refuse(CodeMalformed, fmt.Sprintf("%s is not strict base64url: %v", partName[i], err))
		}
		*dst = b
	}
	if len(c.header) == 0 {
		return nil, refuse(CodeMalformed, "has an empty header")
	}
	return &c, nil
}

var partName = [3]string{"header", "payload", "signature"}

// tokenByte is the set of bytes a compact token may contain.
var tokenByte = func() (set [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") {
		set[c] = true
	}
	return set
}()

// object decodes a JSON object strictly: valid UTF-8, no duplicate members (JSON parsers disagree
// about which duplicate wins, and a token must mean one thing), nothing after the closing brace.
// Member values are kept raw for the caller to type-check.
func object(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("member name is not a string")
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		m[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// str decodes a member that must be a JSON string. ok is false when the member is absent.
func str(m map[string]json.RawMessage, name string) (s string, ok bool, err error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, fmt.Errorf("%q is not a string", name)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf("%q: %w", name, err)
	}
	return s, true, nil
}

// strs decodes a member that must be a JSON array of strings.
func strs(m map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := m[name]
	if !ok {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("%q is not an array", name)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		if len(item) == 0 || item[0] != '"' {
			return nil, fmt.Errorf("%q[%d] is not a string", name, i)
		}
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			return nil, fmt.Errorf("%q[%d]: %w", name, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// maxNumericDate bounds NumericDates to what float64 holds exactly and time.Unix handles.
const maxNumericDate = 1 << 53

// numericDate decodes a JWT NumericDate (seconds since the epoch). RFC 7519 allows fractions; they
// are truncated to the second.
func numericDate(m map[string]json.RawMessage, name string) (t time.Time, ok bool, err error) {
	raw, ok := m[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n := string(raw)
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		if i < 0 || i > maxNumericDate {
			return time.Time{}, true, fmt.Errorf("%q %d is out of range", name, i)
		}
		return time.Unix(i, 0).UTC(), true, nil
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || len(n) == 0 || (n[0] != '-' && (n[0] < '0' || n[0] > '9')) {
		return time.Time{}, true, fmt.Errorf("%q is not a number", name)
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, true, fmt.Errorf("%q %s is out of range", name, n)
	}
	return time.Unix(int64(f), 0).UTC(), true, nil
}
