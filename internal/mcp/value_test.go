package mcp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// reference is what DecodeValue must equal: encoding/json's Decoder with UseNumber, and nothing
// after the value.
func reference(raw []byte) (any, bool) {
	if !json.Valid(raw) {
		return nil, false
	}
	v, err := decodeSlow(raw)
	return v, err == nil
}

var valueCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.5e+10`, `1E5`, `123456789012345678901234567890`, `true`, `false`, `null`,
	` {"a" : [1, 2.5, "x", null, true, {"b": {}}] } `,
	`{"content":[{"type":"text","text":"Echo: hello"}],"isError":false}`,
	`"tab\tnewline\nquote\"backslash\\slash\/"`,
	`"\u00e9\u4e2d\ud83d\ude00"`,
	`"é中😀"`,
	`"\ud800"`,             // a lone surrogate: encoding/json replaces it
	`"\udc00\ud800x"`,      // two lone ones
	"\"\xff\xfe\"",         // invalid UTF-8: replaced too
	"{\"k\xff\":1}",        // in a name
	`{"a":1,"a":2}`,        // the last of a repeated name
	`{"a":1,"\u0061":[3]}`, // the same name, spelt differently
	strings.Repeat("[", 100) + strings.Repeat("]", 100),
}

var invalidValues = []string{
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `01`, `1.`, `.5`, `1e`, `-`, `+1`, `tru`, `nul`,
	`"abc`, "\"a\x01b\"", `"\x"`, `[1 2]`, `{"a":1 "b":2}`, `{} {}`, `1 2`, `[] x`, `"\u12"`,
}

func TestDecodeValueMatchesEncodingJSON(t *testing.T) {
	for _, c := range valueCases {
		want, ok := reference([]byte(c))
		if !ok {
			t.Fatalf("case %q: not valid for encoding/json", c)
		}
		got, err := DecodeValue([]byte(c))
		if err != nil {
			t.Errorf("DecodeValue(%q): %v", c, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeValue(%q) = %#v, want %#v", c, got, want)
		}
	}
	for _, c := range invalidValues {
		if v, err := DecodeValue([]byte(c)); err == nil {
			t.Errorf("DecodeValue(%q) = %#v, want an error", c, v)
		}
	}
}

func TestDecodeValueBoundsDepth(t *testing.T) {
	deep := strings.Repeat("[", maxValueDepth+1) + strings.Repeat("]", maxValueDepth+1)
	if _, err := DecodeValue([]byte(deep)); err == nil {
		t.Fatal("a value nested deeper than encoding/json allows was decoded")
	}
}

// FuzzDecodeValue holds the fast reader to encoding/json: the same value for anything valid, an
// error for anything not.
func FuzzDecodeValue(f *testing.F) {
	for _, c := range append(valueCases, invalidValues...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := DecodeValue(raw)
		want, ok := reference(raw)
		switch {
		case !ok && err == nil:
			t.Fatalf("DecodeValue(%q) = %#v, want an error", raw, got)
		case ok && err != nil && !strings.Contains(err.Error(), "nested too deeply"):
			t.Fatalf("DecodeValue(%q): %v, want %#v", raw, err, want)
		case ok && err == nil && !reflect.DeepEqual(got, want):
			t.Fatalf("DecodeValue(%q) = %#v, want %#v", raw, got, want)
		}
	})
}

func BenchmarkDecodeValue(b *testing.B) {
	raw := []byte(`{"content":[{"type":"text","text":"Echo: hello from loadgen"}],"structuredContent":{"n":7,"ok":true}}`)
	b.Run("mcp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeValue(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeSlow(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
