package redact

import (
	"bytes"
	"testing"
)

// FuzzText checks Text on arbitrary input: it never panics, its output is bounded (a replacement is
// at most 26 bytes and needs several bytes of input to match), and it is idempotent.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"password=hunter2", "https://u:p@h/x", testJWT, "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE",
		"-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----", "Bearer abcdefgh12345678",
		`{"password": "x", "ssn": 1}`, "Xk9fQ2mZ8rT4vB7nW1pL6cY3hJ5sD0gA==", "a=b=c", "\"token\":\"\\\"\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Text(s)
		if len(once) > 8*len(s)+32 {
			t.Fatalf("output of %d bytes for %d bytes of input", len(once), len(s))
		}
		if twice := Text(once); twice != once {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", s, once, twice)
		}
	})
}

// FuzzJSON checks JSON the same way, on valid and invalid documents alike.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"password":"p","a":[1,{"token":{"x":2}}]}`, `[4111111111111111]`, `{"a":"AKIAIOSFODNN7EXAMPLE","a":1}`,
		`"https://u:p@h/"`, `{"email":null}`, `{`, `not json token=1`, "{\"x\":\"\xff\"}", `{"k":1}{"password":2}`,
		`{"note":"line\none","token":"[REDACTED]","ok":true,"n":[1,2.5,{"secret":null}]}`, `{"a":"\u00e9\ud83d\ude00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// What the fast path leaves untouched, the decoder leaves untouched too.
		if untouched(raw) {
			if out, changed, err := redactJSON(raw); err != nil || changed || !bytes.Equal(out, raw) {
				t.Fatalf("%q untouched on the fast path; the decoder: changed %v, error %v, %q", raw, changed, err, out)
			}
		}
		in := bytes.Clone(raw)
		once := JSON(raw)
		if !bytes.Equal(in, raw) {
			t.Fatal("JSON modified its input")
		}
		if len(once) > 8*len(raw)+64 {
			t.Fatalf("output of %d bytes for %d bytes of input", len(once), len(raw))
		}
		if twice := JSON(once); !bytes.Equal(twice, once) {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", raw, once, twice)
		}
	})
}
