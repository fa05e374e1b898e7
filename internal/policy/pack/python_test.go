package pack

import (
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlobsMatchAsFnmatch(t *testing.T) {
	for _, c := range pythonGlobs {
		re, err := compileGlob(c.pattern)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		m, _ := globMatcher(c.pattern)
		var got []string
		for _, p := range globPaths {
			if re.MatchString(p) {
				got = append(got, p)
			}
			if m(p) != re.MatchString(p) {
				t.Errorf("%q on %q: the matcher and the expression disagree", c.pattern, p)
			}
		}
		if !slices.Equal(got, c.matches) {
			t.Errorf("%q matches %q; fnmatchcase matches %q", c.pattern, got, c.matches)
		}
	}
	for _, bad := range []string{"[z-a]", "x[c-a]y", "[!z-a]"} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("%q: the reversed range was not refused", bad)
		}
	}
}

func TestPythonBuiltins(t *testing.T) {
	for _, c := range pythonFloatRepr {
		if got := floatRepr(math.Float64frombits(c.bits)); got != c.repr {
			t.Errorf("repr(%v) = %q, Python says %q", math.Float64frombits(c.bits), got, c.repr)
		}
	}
	for _, c := range pythonInt {
		n, err := toInt(c.in)
		switch {
		case c.out == "" && err == nil:
			t.Errorf("int(%q) = %v; Python raises", c.in, n)
		case c.out != "" && (err != nil || n.String() != c.out):
			t.Errorf("int(%q) = %v, %v; Python says %s", c.in, n, err, c.out)
		}
	}
	for _, c := range pythonRepr {
		if got := repr(c.in); got != c.repr {
			t.Errorf("repr(%q) = %s, Python says %s", c.in, got, c.repr)
		}
	}
	for _, c := range pythonStripLower {
		if got := strip(c.in); got != c.strip {
			t.Errorf("%q.strip() = %q, Python says %q", c.in, got, c.strip)
		}
		if got := lower(c.in); got != c.lower {
			t.Errorf("%q.lower() = %q, Python says %q", c.in, got, c.lower)
		}
	}
	// Values other than strings.
	for _, c := range []struct {
		v    any
		str  string
		true bool
	}{
		{nil, "None", false}, {true, "True", true}, {false, "False", false},
		{Number("0"), "0", false}, {Number("-0"), "0", false}, {Number("0.0"), "0.0", false},
		{Number("1e400"), "inf", true}, {Number("1e-400"), "0.0", false}, {Number("2E2"), "200.0", true},
		{Number("123456789012345678901234567890"), "123456789012345678901234567890", true},
		{[]any{}, "[]", false}, {&Object{}, "{}", false}, {"", "", false},
		{[]any{"a", Number("1"), nil, []any{true}}, "['a', 1, None, [True]]", true},
		{object("b", "x", "a", Number("1.50")), "{'b': 'x', 'a': 1.5}", true},
	} {
		if got := str(c.v); got != c.str {
			t.Errorf("str(%#v) = %q, want %q", c.v, got, c.str)
		}
		if got := truthy(c.v); got != c.true {
			t.Errorf("bool(%#v) = %v, want %v", c.v, got, c.true)
		}
	}
}

func TestDumpIsJSONDumps(t *testing.T) {
	v, err := Decode([]byte(`{"b":[1,2.50,{}],"a":"\u00e9\ud83d\ude00\u007f\"\\/\n","c":[],"d":{"z":null,"y":true},"-0":-0,"e":1E2}`))
	if err != nil {
		t.Fatal(err)
	}
	// json.dumps(json.loads(that), indent=2, sort_keys=True), from Python 3.11.7.
	want := "{\n  \"-0\": 0,\n  \"a\": \"\\u00e9\\ud83d\\ude00\\u007f\\\"\\\\/\\n\",\n  \"b\": [\n    1,\n    2.5,\n    {}\n  ],\n  \"c\": [],\n  \"d\": {\n    \"y\": true,\n    \"z\": null\n  },\n  \"e\": 100.0\n}"
	if got := string(Dump(v)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// The corners the first review found, with Python 3.11.7's answers.
func TestPythonCorners(t *testing.T) {
	for in, want := range map[string]string{"\u2160\u03a3": "\u2170\u03c2", "\u0391\u03a3\u00b7\u0391": "\u03b1\u03c3\u00b7\u03b1",
		"\u0391\u03a3\uff0e\u0392": "\u03b1\u03c3\uff0e\u03b2", "\u00aa\u03a3": "\u00aa\u03c2", "\u03a3": "\u03c3"} {
		if got := lower(in); got != want {
			t.Errorf("%q.lower() = %q, Python says %q", in, got, want)
		}
	}
	for record, want := range map[string]bool{`{"status":"approved","x":NaN}`: true, `{"status":NaN,"decision":"approved"}`: false,
		`"\ud800approved"`: false, `{"status":"approved","s":"\ud800"}`: true, `[Infinity]`: false, `-Infinity`: false,
		`{"s":"NaN","status":"approved"}`: true} {
		if got := approvalSatisfied(record, 0); got != want {
			t.Errorf("approval_satisfied(%s) = %v, Python says %v", record, got, want)
		}
	}
	big := strings.Repeat("9", maxIntDigits+1)
	if _, err := Decode([]byte(`{"diff_line_count":` + big + `}`)); err == nil {
		t.Error("an integer json.loads refuses was read")
	}
	if _, err := toInt(Number(big)); err == nil {
		t.Error("int() of an integer of more digits than Python reads")
	}
}

// FuzzStarMatch: the matcher of a glob of stars and literals agrees with its regular expression.
func FuzzStarMatch(f *testing.F) {
	f.Add("src/**", "src/a/b.py")
	f.Add("*a*b*", "xaybz")
	f.Add("**/*.pem", "a/b.pem")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if strings.ContainsAny(pattern, "?[") || !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return
		}
		re, err := compileGlob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := globMatcher(pattern)
		if m(s) != re.MatchString(s) {
			t.Fatalf("%q on %q: matcher %v, expression %v", pattern, s, m(s), re.MatchString(s))
		}
	})
}
