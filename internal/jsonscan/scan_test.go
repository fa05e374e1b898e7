package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// tokens reads b whole and returns its tokens as text, or the error that ended the reading.
func tokens(b []byte, maxDepth int) ([]string, error) {
	var s Scanner
	s.Reset(b, maxDepth)
	var out []string
	for {
		t, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		tok := string(t.Raw)
		if t.Name {
			tok += ":"
		}
		out = append(out, tok)
	}
}

func TestScannerTokens(t *testing.T) {
	got, err := tokens([]byte(` {"a" : [1, -2.5e+3, "x\n", true,false, null, {}, []], "b":{"c":"\u00e9"}} `), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{`, `"a":`, `[`, `1`, `-2.5e+3`, `"x\n"`, `true`, `false`, `null`, `{`, `}`, `[`, `]`, `]`, `"b":`, `{`, `"c":`, `"\u00e9"`, `}`, `}`}
	if !slices.Equal(got, want) {
		t.Errorf("tokens\n got %q\nwant %q", got, want)
	}
	var s Scanner
	for _, c := range []struct {
		in   string
		want int
	}{{` {"a" : [1, -2.5e+3, "x\n", true,false, null, {}, []], "b":{"c":"\u00e9"}} `, 15}, {`7`, 1}, {`[]`, 1}, {`{"a":{}}`, 3}} {
		s.Reset([]byte(c.in), 0)
		for _, err := s.Next(); err == nil; _, err = s.Next() {
		}
		if s.Tokens() != c.want {
			t.Errorf("%s: Tokens() = %d, want %d", c.in, s.Tokens(), c.want)
		}
	}
	// LimitTokens: [1,2,3] is four tokens.
	for limit, want := range map[int]error{4: io.EOF, 3: ErrTokens} {
		s.Reset([]byte(`[1,2,3]`), 0)
		s.LimitTokens(limit)
		var err error
		for err == nil {
			_, err = s.Next()
		}
		if err != want {
			t.Errorf("[1,2,3] with LimitTokens(%d): %v, want %v", limit, err, want)
		}
	}
}

func TestScannerRejects(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `01`, `1.`, `.5`, `1e`, `-`,
		`+1`, `tru`, `nul`, `"abc`, "\"a\x01\"", `"\x"`, `"\u12"`, `"\u12g4"`, `[}`, `{]`, `{"a":}`, `NaN`, `1 2`, `{} {}`,
		`"a" x`, "\ufeff{}",
	} {
		if _, err := tokens([]byte(in), 0); err == nil {
			t.Errorf("%q: read without error", in)
		}
	}
}

func TestScannerDepth(t *testing.T) {
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70)
	if _, err := tokens([]byte(deep), 0); err != nil {
		t.Errorf("70 levels without a limit: %v", err)
	}
	if _, err := tokens([]byte(deep), 69); !errors.Is(err, ErrDepth) {
		t.Errorf("70 levels, limit 69: %v, want ErrDepth", err)
	}
	if _, err := tokens([]byte(deep), 70); err != nil {
		t.Errorf("70 levels, limit 70: %v", err)
	}
	// Objects and arrays alternating past 64 levels: each close must match its own open.
	mixed := strings.Repeat(`{"a":[`, 40) + strings.Repeat(`]}`, 40)
	if _, err := tokens([]byte(mixed), 0); err != nil {
		t.Errorf("mixed nesting: %v", err)
	}
	wrong := strings.Repeat(`{"a":[`, 40) + `}` + strings.Repeat(`]}`, 39)
	if _, err := tokens([]byte(wrong), 0); err == nil {
		t.Errorf("a brace closing an array at depth 80 was read")
	}
}

func TestScanStringFlags(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Flags
	}{
		{`"plain"`, 0}, {`"a\nb"`, Escaped}, {`"é"`, NonASCII}, {`"\u00e9"`, Escaped}, {`"\ud83d\ude00"`, Escaped | Surrogate},
		{`"\uDC00"`, Escaped | Surrogate}, {`"\ucafe"`, Escaped},
	} {
		end, flags, ok := ScanString([]byte(c.in), 0)
		if !ok || end != len(c.in) || flags != c.want {
			t.Errorf("%s: end %d flags %b ok %v, want %d %b true", c.in, end, flags, ok, len(c.in), c.want)
		}
	}
}

func TestValue(t *testing.T) {
	var s Scanner
	s.Reset([]byte(`{"a":{"b":[1,{"c":2}]},"d":"e"}`), 0)
	s.Next()
	s.Next()
	v, err := s.Value()
	if err != nil || string(v) != `{"b":[1,{"c":2}]}` {
		t.Fatalf("Value: %q %v", v, err)
	}
	if n, _ := s.Next(); string(n.Raw) != `"d"` || !n.Name {
		t.Fatalf("after Value: %q", n.Raw)
	}
	if v, err := s.Value(); err != nil || string(v) != `"e"` {
		t.Fatalf("scalar Value: %q %v", v, err)
	}
}

// FuzzScanner holds the Scanner to encoding/json's grammar: it reads to the end exactly the inputs
// json.Valid accepts (which does not check UTF-8 either), and every token is where it claims to be.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-2.5e+3,"x\n",true,false,null,{},[]]}`, `"\ud800"`, `[1,]`, `01`, `{"a":1}{}`, "\"\xff\"", `-0.0e-0`,
		`[[[[[]]]]]`, `{"a":{"b":{"c":[{}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Scanner
		s.Reset(b, 0)
		var err error
		opened := 0 // tokens that are not the close of an object or array
		for err == nil {
			var tok Token
			tok, err = s.Next()
			// A name's offset is past its colon; any other token ends at the offset.
			if err == nil && !tok.Name && !bytes.Equal(b[s.Offset()-len(tok.Raw):s.Offset()], tok.Raw) {
				t.Fatalf("token %q is not at its offset", tok.Raw)
			}
			if err == nil && tok.Kind != '}' && tok.Kind != ']' {
				opened++
			}
		}
		if read := err == io.EOF; read != json.Valid(b) {
			t.Fatalf("Scanner read %q to the end: %v (%v), encoding/json Valid: %v", b, read, err, json.Valid(b))
		}
		if err == io.EOF && s.Tokens() != opened {
			t.Fatalf("Tokens() = %d after reading %q, which has %d tokens besides closes", s.Tokens(), b, opened)
		}
	})
}

// members reads an object's members with jsontext's strict decoder: the reference for Object.
func members(b []byte) ([][2]string, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, errors.New("not an object")
	}
	var out [][2]string
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := tok.String()
		val, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{name, string(val)})
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return out, nil
}

func TestObject(t *testing.T) {
	var got [][2]string
	var in string
	collect := func(name []byte, start, end int) error {
		got = append(got, [2]string{string(name), in[start:end]})
		return nil
	}
	in = ` { "jsonrpc" : "2.0", "id":7,"params":{"a":[1,{"a":2}],"b":"é\n"} } `
	if err := Object([]byte(in), 0, 0, collect); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"jsonrpc", `"2.0"`}, {"id", "7"}, {"params", `{"a":[1,{"a":2}],"b":"é\n"}`}}
	if !slices.Equal(got, want) {
		t.Errorf("members\n got %q\nwant %q", got, want)
	}
	for _, in = range []string{
		`{"a":1,"a":2}`, `{"p":{"x":1,"y":{"x":2},"x":3}}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"\u0061":1}`, `[1]`, `"s"`,
		`{"a":1} x`, `{"a":[1,{"b":2,"b":3}]}`,
	} {
		if err := Object([]byte(in), 0, 0, collect); !errors.Is(err, ErrUnusual) {
			t.Errorf("%s: %v, want ErrUnusual", in, err)
		}
	}
	// A name repeated in a sibling or nested object is not a duplicate.
	in = `{"a":{"x":1},"b":{"x":2,"y":{"x":3}},"x":4}`
	if err := Object([]byte(in), 0, 0, collect); err != nil {
		t.Errorf("the same name in different objects: %v", err)
	}
	// Without a limit, Object stops where the full decoder does.
	in = `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`
	if err := Object([]byte(in), 0, 0, collect); !errors.Is(err, ErrUnusual) {
		t.Errorf("10,001 levels without a limit: %v, want ErrUnusual", err)
	}
	// {, "a", [, 1, 2, 3: six tokens.
	in = `{"a":[1,2,3]}`
	if err := Object([]byte(in), 0, 6, collect); err != nil {
		t.Errorf("6 tokens, limit 6: %v", err)
	}
	if err := Object([]byte(in), 0, 5, collect); !errors.Is(err, ErrUnusual) {
		t.Errorf("6 tokens, limit 5: %v, want ErrUnusual", err)
	}
	stop := errors.New("stop")
	if err := Object([]byte(`{"a":1,"b":2}`), 0, 0, func([]byte, int, int) error { return stop }); err != stop {
		t.Errorf("member's error: %v", err)
	}
}

// FuzzObject holds Object to jsontext's strict reading: whatever Object reads, jsontext reads as the
// same members; whatever jsontext rejects, Object leaves to it.
func FuzzObject(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`,
		`{"a":1,"a":2}`, `{"a":{"b":1,"c":{"b":2}},"b":3}`, `{"a":"\ud83d\ude00"}`, "{\"a\":\"\xed\xa0\x80\"}", `{"\u0061":1,"a":2}`,
		`{"a":[{"x":1},{"x":2}]}`, `{"a":"é"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got [][2]string
		err := Object(b, 0, 0, func(name []byte, start, end int) error {
			got = append(got, [2]string{string(name), string(b[start:end])})
			return nil
		})
		want, werr := members(b)
		if err == nil && werr != nil {
			t.Fatalf("Object read %q, which jsontext rejects: %v", b, werr)
		}
		if err == nil && !slices.Equal(got, want) {
			t.Fatalf("members of %q\n Object  %q\n jsontext %q", b, got, want)
		}
		if err != nil && !errors.Is(err, ErrUnusual) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
