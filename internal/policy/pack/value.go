package pack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/go-json-experiment/json/jsontext"
)

// The published evaluator and generator are Python programs working on the values json.loads
// returns. Their decisions and their output depend on Python's view of those values: which are
// falsy, what str() of a number or a list looks like, how json.dumps writes them. A JSON value is
// therefore kept here as one of:
//
//	nil, bool, string, Number, []any, *Object
//
// Number keeps the literal, so that an integer of any size and a float print as Python prints them.

// Number is a JSON number as written.
type Number string

// isInt reports whether Python's json reads the literal as an int (no fraction, no exponent).
func (n Number) isInt() bool { return !strings.ContainsAny(string(n), ".eE") }

// Object is a JSON object with its members in order (Python's dicts keep insertion order, which
// str() of a dict shows).
type Object struct {
	names  []string
	values []any
}

// Get returns the value of name, and whether it is present.
func (o *Object) Get(name string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for i, n := range o.names {
		if n == name {
			return o.values[i], true
		}
	}
	return nil, false
}

// get is dict.get(name): nil when absent.
func (o *Object) get(name string) any {
	v, _ := o.Get(name)
	return v
}

// getOr is dict.get(name, def).
func (o *Object) getOr(name string, def any) any {
	if v, ok := o.Get(name); ok {
		return v
	}
	return def
}

// Set sets name, keeping its position when it is present (as assigning to a dict does).
func (o *Object) Set(name string, v any) {
	for i, n := range o.names {
		if n == name {
			o.values[i] = v
			return
		}
	}
	o.names = append(o.names, name)
	o.values = append(o.values, v)
}

// Len is the number of members.
func (o *Object) Len() int { return len(o.names) }

// Names returns the member names in order.
func (o *Object) Names() []string { return slices.Clone(o.names) }

// clone is dict(o): a shallow copy.
func (o *Object) clone() *Object {
	n := len(o.names) + 4 // room for what the evaluator adds
	return &Object{names: append(make([]string, 0, n), o.names...), values: append(make([]any, 0, n), o.values...)}
}

// maxDepth bounds nesting in the files and requests this package reads.
const maxDepth = 128

// Decode reads one JSON document strictly: duplicate member names, invalid UTF-8 and trailing data
// are errors. (Python's json accepts duplicate names, keeping the last, and the NaN and Infinity
// literals; gatehouse refuses them rather than guess what the author meant.)
func Decode(data []byte) (any, error) {
	return decode(data, false)
}

// decodeLenient reads JSON as json.loads does, for the approval record: a duplicate name keeps its
// first position and last value, a lone surrogate escape is read (as U+FFFD: no approval word holds
// one either way), and NaN, Infinity and -Infinity are read as 1, which is, like them, a true
// number that is not an approval.
func decodeLenient(data []byte) (any, error) {
	return decode(pythonLiterals(data), true)
}

// pythonLiterals replaces the NaN, Infinity and -Infinity that json.loads accepts outside strings
// with 1.
func pythonLiterals(data []byte) []byte {
	if !bytes.Contains(data, []byte("NaN")) && !bytes.Contains(data, []byte("Infinity")) {
		return data
	}
	var out []byte
	inString, escaped := false, false
next:
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString:
			for _, lit := range []string{"-Infinity", "Infinity", "NaN"} {
				if bytes.HasPrefix(data[i:], []byte(lit)) {
					out = append(out, '1')
					i += len(lit) - 1
					continue next
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func decode(data []byte, lenient bool) (any, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(lenient), jsontext.AllowInvalidUTF8(lenient))
	v, err := readValue(dec, lenient, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the JSON value")
		}
		return nil, err
	}
	return v, nil
}

func readValue(dec *jsontext.Decoder, lenient bool, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil
	case 't', 'f':
		return tok.Bool(), nil
	case '"':
		return tok.String(), nil
	case '0':
		n := Number(tok.String())
		if n.isInt() && len(strings.TrimPrefix(string(n), "-")) > maxIntDigits {
			// json.loads refuses such an integer too (ValueError), and converting one costs time
			// that grows faster than its length.
			return nil, fmt.Errorf("an integer of more than %d digits", maxIntDigits)
		}
		return n, nil
	case '[':
		list := []any{}
		for dec.PeekKind() != ']' {
			v, err := readValue(dec, lenient, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.ReadToken()
		return list, err
	case '{':
		obj := &Object{}
		for dec.PeekKind() != '}' {
			name, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			key := name.String()
			v, err := readValue(dec, lenient, depth+1)
			if err != nil {
				return nil, err
			}
			if lenient {
				obj.Set(key, v)
			} else {
				obj.names = append(obj.names, key)
				obj.values = append(obj.values, v)
			}
		}
		_, err := dec.ReadToken()
		return obj, err
	}
	return nil, fmt.Errorf("unexpected %v", tok.Kind())
}

// Dump writes v as Python's json.dumps(v, indent=2, sort_keys=True) does, which is the byte format
// of a policy pack and of the evaluator's answer: two-space indentation, names sorted by code point,
// every character outside printable ASCII escaped as \uXXXX.
func Dump(v any) []byte {
	var b []byte
	b = dump(b, v, 0)
	return b
}

func dump(b []byte, v any, indent int) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return appendPyJSONString(b, v)
	case Number:
		// json.dumps writes an infinite float (a literal too large for a double) as Infinity.
		switch p := v.python(); p {
		case "inf":
			return append(b, "Infinity"...)
		case "-inf":
			return append(b, "-Infinity"...)
		default:
			return append(b, p...)
		}
	case []any:
		if len(v) == 0 {
			return append(b, "[]"...)
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = newline(b, indent+1)
			b = dump(b, e, indent+1)
		}
		b = newline(b, indent)
		return append(b, ']')
	case *Object:
		if v.Len() == 0 {
			return append(b, "{}"...)
		}
		order := make([]int, v.Len())
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(x, y int) int { return strings.Compare(v.names[x], v.names[y]) })
		b = append(b, '{')
		for i, at := range order {
			if i > 0 {
				b = append(b, ',')
			}
			b = newline(b, indent+1)
			b = appendPyJSONString(b, v.names[at])
			b = append(b, ": "...)
			b = dump(b, v.values[at], indent+1)
		}
		b = newline(b, indent)
		return append(b, '}')
	}
	panic(fmt.Sprintf("pack: cannot dump %T", v))
}

func newline(b []byte, indent int) []byte {
	b = append(b, '\n')
	for range indent {
		b = append(b, "  "...)
	}
	return b
}

// appendPyJSONString quotes s as json.dumps does with ensure_ascii: the short escapes for quote,
// backslash and five control characters, and \uXXXX (lower-case hex, surrogate pairs above the
// BMP) for everything else outside space to tilde.
func appendPyJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			b = u(u(b, hi), lo)
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}

// python is the number as Python prints it: an int's digits ("-0" is 0), a float's repr.
func (n Number) python() string {
	if n.isInt() {
		if n == "-0" {
			return "0"
		}
		return string(n)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !math.IsInf(f, 0) {
		return string(n) // not reached: the decoder accepted the literal
	}
	return floatRepr(f)
}

// floatRepr is Python's repr(float): the shortest digits that read back to f, in positional
// notation when the decimal point falls between 10^-4 and 10^16 (with ".0" on an integral value),
// otherwise in exponent notation with a signed exponent of at least two digits.
func floatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, exp, _ := strings.Cut(s, "e")
	digits := strings.Replace(mant, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	decpt := e + 1
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			return sign + "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			return sign + digits[:decpt] + "." + digits[decpt:]
		}
	}
	out := sign + digits[:1]
	if len(digits) > 1 {
		out += "." + digits[1:]
	}
	es := "+"
	if e < 0 {
		es, e = "-", -e
	}
	if e < 10 {
		es += "0"
	}
	return out + "e" + es + strconv.Itoa(e)
}
