package canonjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// decode decodes doc as the gateway does, numbers as json.Number.
func decode(t *testing.T, doc string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func canon(t *testing.T, doc string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Append(&b, decode(t, doc)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b": 1, "a": [true, null, "x"]}`, `{"a":[true,null,"x"],"b":1}`},
		{`{"html": "<&>", "u": "\u00e9\u2028"}`, `{"html":"<&>","u":"é\u2028"}`},
		{`[1, 1.0, 1e0, 10E-1, -0, -0.0, 0]`, `[1,1,1,1,0,0,0]`},
		{`[9007199254740993, -9007199254740993, 100000000000000000000000]`, `[9007199254740993,-9007199254740993,100000000000000000000000]`},
		{`[1.5, 1e21, 1.25e-7]`, `[1.5,1e+21,1.25e-07]`},
		{`{}`, `{}`},
	} {
		if got := canon(t, tc.in); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{`[1, 1.0, 1e0, 10E-1, 100e-2, -0, -0.0, 0e5, 0]`, `[1,1,1,1,1,0,0,0,0]`},
		{`[0.1, 0.10000000000000000555, 1.50, 15e-1, -2.5E+3, 1e2]`, `[1e-1,10000000000000000555e-20,15e-1,15e-1,-2500,100]`},
		{`[9007199254740993, 1e400, 12e-400]`, `[9007199254740993,1e400,12e-400]`},
	} {
		d := json.NewDecoder(strings.NewReader(tc.in))
		d.UseNumber()
		var v any
		d.Decode(&v)
		var b bytes.Buffer
		if err := AppendExact(&b, v); err != nil || b.String() != tc.want {
			t.Errorf("exact %s: %s (%v), want %s", tc.in, b.String(), err, tc.want)
		}
	}
	var b bytes.Buffer
	if err := Append(&b, json.Number("1e400")); err == nil {
		t.Error("a number past float64 was written")
	}
	deep := any("x")
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	if err := Append(&b, deep); err == nil {
		t.Error("nesting past MaxDepth was written")
	}
	if err := Append(&b, struct{}{}); err == nil {
		t.Error("a value JSON does not decode to was written")
	}
}

// AppendVerbatim sorts and compacts like Append but writes numbers as they were written; a
// json.Number that is not a JSON number is refused, not written into the document.
func TestAppendVerbatim(t *testing.T) {
	var b bytes.Buffer
	if err := AppendVerbatim(&b, decode(t, `{"b": [1.50, 1e2, -0, 9007199254740993], "a": {"z": 1000.50, "y": "1.50"}}`)); err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"y":"1.50","z":1000.50},"b":[1.50,1e2,-0,9007199254740993]}`; b.String() != want {
		t.Errorf("AppendVerbatim: %s, want %s", b.String(), want)
	}
	for _, bad := range []string{"1,2", "0x10", "", "1}"} {
		if err := AppendVerbatim(&bytes.Buffer{}, map[string]any{"n": json.Number(bad)}); err == nil {
			t.Errorf("AppendVerbatim wrote the number %q", bad)
		}
	}
}
