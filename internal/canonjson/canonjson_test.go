package canonjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func canon(t *testing.T, doc string) string {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Append(&b, v); err != nil {
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
