package pack

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// This file holds the few Python built-ins whose behaviour on any JSON value the published
// evaluator's decisions depend on: truthiness, str(), repr(), str.strip(), str.lower() and int().

// truthy is Python's bool(v).
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case Number:
		f, _ := strconv.ParseFloat(string(v), 64) // out of range: ±inf (true) or 0 (false), as in Python
		return f != 0
	case []any:
		return len(v) > 0
	case *Object:
		return v.Len() > 0
	}
	return true
}

// or is Python's `v or def`.
func or(v, def any) any {
	if truthy(v) {
		return v
	}
	return def
}

// blank is `v in (None, "", [], {})`, which compares with ==: only those four values.
func blank(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case *Object:
		return v.Len() == 0
	}
	return false
}

// str is Python's str(v).
func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return repr(v)
}

// strOr is str(v or def), the evaluator's usual way of reading an attribute.
func strOr(v any, def string) string {
	if truthy(v) {
		return str(v)
	}
	return def
}

// repr is Python's repr(v) of a JSON value.
func repr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteString(reprString(v))
	case Number:
		b.WriteString(v.python())
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e)
		}
		b.WriteByte(']')
	case *Object:
		b.WriteByte('{')
		for i, n := range v.names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(reprString(n))
			b.WriteString(": ")
			writeRepr(b, v.values[i])
		}
		b.WriteByte('}')
	}
}

// reprString is repr() of a str: single quotes unless the text holds a single quote and no double
// one; backslash escapes for the quote, backslash, \t \n \r, and \x, \u or \U for what Python does
// not consider printable.
func reprString(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	b := []byte{quote}
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < ' ' || r == 0x7f:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r < 0x7f || unicode.IsPrint(r):
			b = append(b, string(r)...)
		case r <= 0xff:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xf])
		case r <= 0xffff:
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = append(b, `\U`...)
			for shift := 28; shift >= 0; shift -= 4 {
				b = append(b, hex[r>>uint(shift)&0xf])
			}
		}
	}
	return string(append(b, quote))
}

// isSpace is str.isspace() of one character: Unicode white space, plus the four information
// separators U+001C to U+001F, which Python counts and Go does not.
func isSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// strip is str.strip().
func strip(s string) string { return strings.TrimFunc(s, isSpace) }

// lower is str.lower(): each letter's lower case, and the two rules of Unicode's SpecialCasing
// that Python applies beyond it: İ becomes i̇ (two characters), and a capital sigma that ends a
// word becomes ς.
func lower(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 }) {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch {
		case r == 0x130:
			b.WriteString("i\u0307")
		case r == 0x3a3 && finalSigma(rs, i):
			b.WriteRune(0x3c2)
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition at rs[i]: a cased letter before it and none after
// it, skipping case-ignorable characters either way.
func finalSigma(rs []rune, i int) bool {
	cased := func(r rune) bool {
		return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
	}
	// Case_Ignorable: these categories, and the characters of Word_Break MidLetter, MidNumLet
	// and Single_Quote.
	ignorable := func(r rune) bool {
		return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) ||
			strings.ContainsRune(":\u00b7\u0387\u055f\u05f4\u2027\ufe13\ufe55\uff1a.\u2018\u2019\u2024\ufe52\uff07\uff0e'", r)
	}
	before := false
	for j := i - 1; j >= 0; j-- {
		if !ignorable(rs[j]) {
			before = cased(rs[j])
			break
		}
	}
	for j := i + 1; j < len(rs); j++ {
		if !ignorable(rs[j]) {
			return before && !cased(rs[j])
		}
	}
	return before
}

// errNotInt is what int(v) raises for a value it cannot convert.
var errNotInt = errors.New("not an integer")

// maxIntDigits is Python's default limit on the digits int() reads from a string.
const maxIntDigits = 4300

// toInt is Python's int(v): an int as is, a float truncated toward zero, a bool as 0 or 1, a string
// of (Unicode) decimal digits with an optional sign, single underscores between digits and white
// space around. Anything else raises; so does a float that is infinite.
func toInt(v any) (*big.Int, error) {
	switch v := v.(type) {
	case bool:
		if v {
			return big.NewInt(1), nil
		}
		return big.NewInt(0), nil
	case Number:
		if v.isInt() {
			if len(strings.TrimPrefix(string(v), "-")) > maxIntDigits {
				return nil, errNotInt // json.loads would not have read it
			}
			n, ok := new(big.Int).SetString(string(v), 10)
			if !ok {
				return nil, errNotInt
			}
			return n, nil
		}
		f, _ := strconv.ParseFloat(string(v), 64)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, errNotInt
		}
		n, _ := big.NewFloat(f).Int(nil)
		return n, nil
	case string:
		return intFromString(v)
	}
	return nil, errNotInt
}

func intFromString(s string) (*big.Int, error) {
	// int() strips ASCII white space, and white space beyond ASCII (which it first turns into
	// spaces), but not the ASCII separators U+001C to U+001F that str.strip() also removes.
	s = strings.TrimFunc(s, func(r rune) bool { return r >= 0x80 && isSpace(r) || strings.ContainsRune(" \t\n\v\f\r", r) })
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var digits []byte
	prevDigit := false
	for _, r := range s {
		if r == '_' {
			if !prevDigit {
				return nil, errNotInt
			}
			prevDigit = false
			continue
		}
		d, ok := decimalValue(r)
		if !ok {
			return nil, errNotInt
		}
		digits = append(digits, '0'+d)
		prevDigit = true
	}
	if len(digits) == 0 || !prevDigit || len(digits) > maxIntDigits {
		return nil, errNotInt
	}
	n, _ := new(big.Int).SetString(string(digits), 10)
	if neg {
		n.Neg(n)
	}
	return n, nil
}

// decimalValue is unicodedata.decimal(r): the value of a character of category Nd. Unicode lays out
// every set of decimal digits as a run of ten from zero, and each range of the Nd table starts at a
// zero.
func decimalValue(r rune) (byte, bool) {
	if r >= '0' && r <= '9' {
		return byte(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	return 0, false
}
