package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
)

// maxValueDepth bounds nesting in DecodeValue, as encoding/json does.
const maxValueDepth = 10000

// DecodeValue decodes any JSON value with numbers kept as json.Number: objects become
// map[string]any, arrays []any, strings string, true and false bool, null nil. The result is
// exactly what encoding/json's Decoder with UseNumber gives for the same value; the common case is
// read directly, which is several times faster, and anything unusual (invalid UTF-8, an escape that
// is not a valid character) is left to encoding/json. Data after the value is an error.
func DecodeValue(raw []byte) (any, error) {
	d := valueDecoder{b: raw}
	v, err := d.value(0)
	if err == nil {
		d.space()
		if d.i != len(d.b) {
			err = errors.New("invalid character after the JSON value")
		}
	}
	if err == errUnusual {
		return decodeSlow(raw)
	}
	return v, err
}

func decodeSlow(raw []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid character after the JSON value")
	}
	return v, nil
}

// errUnusual sends a value to encoding/json.
var errUnusual = errors.New("left to encoding/json")

var errSyntax = errors.New("invalid JSON")

type valueDecoder struct {
	b []byte
	i int
}

func (d *valueDecoder) space() { d.i = jsonscan.SkipSpace(d.b, d.i) }

func (d *valueDecoder) value(depth int) (any, error) {
	d.space()
	if d.i >= len(d.b) {
		return nil, errSyntax
	}
	switch c := d.b[d.i]; {
	case c == '{':
		if depth >= maxValueDepth {
			return nil, errors.New("JSON nested too deeply")
		}
		return d.object(depth + 1)
	case c == '[':
		if depth >= maxValueDepth {
			return nil, errors.New("JSON nested too deeply")
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, errSyntax
}

func (d *valueDecoder) literal(word string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		return errSyntax
	}
	d.i += len(word)
	return nil
}

func (d *valueDecoder) object(depth int) (any, error) {
	d.i++ // {
	obj := map[string]any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return obj, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errSyntax
		}
		name, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errSyntax
		}
		d.i++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		obj[name] = v // a repeated name keeps its last value, as in encoding/json
		last, err := d.separator('}')
		if err != nil {
			return nil, err
		}
		if last {
			return obj, nil
		}
	}
}

// separator reads what follows a member or element: a comma (more follow) or end (last is true).
func (d *valueDecoder) separator(end byte) (last bool, err error) {
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != ',' && d.b[d.i] != end {
		return false, errSyntax
	}
	d.i++
	return d.b[d.i-1] == end, nil
}

func (d *valueDecoder) array(depth int) (any, error) {
	d.i++ // [
	arr := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return arr, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		last, err := d.separator(']')
		if err != nil {
			return nil, err
		}
		if last {
			return arr, nil
		}
	}
}

// str reads a string whose opening quote is at d.i.
func (d *valueDecoder) str() (string, error) {
	end, flags, ok := jsonscan.ScanString(d.b, d.i)
	if !ok {
		return "", errSyntax
	}
	raw := d.b[d.i:end]
	d.i = end
	if flags&jsonscan.Escaped == 0 {
		if flags&jsonscan.NonASCII != 0 && !utf8.Valid(raw) {
			return "", errUnusual // encoding/json replaces invalid bytes
		}
		return string(raw[1 : len(raw)-1]), nil
	}
	s, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return "", errUnusual // e.g. a lone surrogate, which encoding/json replaces
	}
	return string(s), nil
}

// number reads a number at d.i, checking its grammar (RFC 8259 §6).
func (d *valueDecoder) number() (any, error) {
	end, ok := jsonscan.ScanNumber(d.b, d.i)
	if !ok {
		return nil, errSyntax
	}
	n := json.Number(d.b[d.i:end])
	d.i = end
	return n, nil
}
