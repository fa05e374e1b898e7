// Package canonjson writes the canonical JSON of a decoded value, for digests that must not depend
// on how a document was formatted: objects with their members sorted by name, no insignificant
// white space, strings escaped minimally (no HTML escaping). An integer written without a fraction
// or exponent keeps its exact digits; any other number is written as the shortest form of its
// float64 value, so 1.0, 1e0 and 1 are the same number but 2^53+1 is not 2^53.
package canonjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxDepth bounds the nesting Append follows.
const MaxDepth = 128

// How a json.Number is written.
type numbers int

const (
	floatNumbers    numbers = iota // an integer's digits, any other number as its float64
	exactNumbers                   // by its exact decimal value
	verbatimNumbers                // as written
)

// Append appends the canonical JSON of v to b. v is what encoding/json decodes into any (numbers
// as json.Number or float64), or an int.
func Append(b *bytes.Buffer, v any) error { return appendValue(b, v, 0, floatNumbers) }

// AppendExact is Append writing every json.Number by its exact decimal value: the digits of its
// value with no leading or trailing zeros, then, unless it is an integer of at most 400 digits,
// "e" and the power of ten they are multiplied by (1.50 is 15e-1, 1e2 is 100).
func AppendExact(b *bytes.Buffer, v any) error { return appendValue(b, v, 0, exactNumbers) }

// AppendVerbatim is Append writing every json.Number as it was written (1.50 stays 1.50): not
// canonical for digests, but what a human reading a call should see. The number must be a valid
// JSON number literal, as a json.Number from a strict parse is.
func AppendVerbatim(b *bytes.Buffer, v any) error { return appendValue(b, v, 0, verbatimNumbers) }

func appendValue(b *bytes.Buffer, v any, depth int, mode numbers) error {
	if depth > MaxDepth {
		return fmt.Errorf("nested more than %d deep", MaxDepth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x)
	case json.Number:
		switch mode {
		case exactNumbers:
			return writeExact(b, string(x))
		case verbatimNumbers:
			if !json.Valid([]byte(x)) {
				return fmt.Errorf("number %q is not a JSON number", string(x))
			}
			b.WriteString(string(x))
			return nil
		}
		return writeNumber(b, x)
	case float64:
		return writeFloat(b, x)
	case int:
		b.WriteString(strconv.Itoa(x))
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := appendValue(b, x[k], depth+1, mode); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendValue(b, e, depth+1, mode); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return fmt.Errorf("unexpected %T in a JSON value", v)
	}
	return nil
}

// writeNumber writes an integer literal's exact digits (-0 as 0), and any other number as its float.
func writeNumber(b *bytes.Buffer, n json.Number) error {
	s := string(n)
	digits := strings.TrimPrefix(s, "-")
	if digits != "" && !strings.ContainsAny(digits, ".eE") && strings.Trim(digits, "0123456789") == "" && (digits == "0" || digits[0] != '0') {
		if digits == "0" {
			s = "0"
		}
		b.WriteString(s)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("number %q: %w", s, err)
	}
	return writeFloat(b, f)
}

// writeExact writes a JSON number literal by its exact value (AppendExact).
func writeExact(b *bytes.Buffer, s string) error {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	mant, expPart, hasExp := strings.Cut(strings.ToLower(body), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expPart)
		if err != nil || e > 1e6 || e < -1e6 {
			return fmt.Errorf("number %q: exponent out of range", s)
		}
		exp = e
	}
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return fmt.Errorf("number %q is not a JSON number", s)
	}
	exp -= len(frac)
	trimmed := strings.TrimLeft(digits, "0")
	if trimmed == "" {
		b.WriteByte('0')
		return nil
	}
	t := strings.TrimRight(trimmed, "0")
	exp += len(trimmed) - len(t)
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(t)
	switch {
	case exp >= 0 && len(t)+exp <= 400:
		b.WriteString(strings.Repeat("0", exp))
	case exp != 0:
		b.WriteString("e" + strconv.Itoa(exp))
	}
	return nil
}

func writeFloat(b *bytes.Buffer, f float64) error {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("number %v is not JSON", f)
	}
	if f == 0 {
		f = 0 // -0 is 0
	}
	b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // the newline Encode adds
}
