package redact

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
)

func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValue(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"field names", `{"user":"alice","password":"hunter2","Api-Key":"k","session_id":42}`,
			`{"user":"alice","password":"[REDACTED]","Api-Key":"[REDACTED]","session_id":"[REDACTED]"}`},
		{"whole subtree under a sensitive name", `{"auth":{"user":"a","pass":"b"},"ok":1}`, `{"auth":"[REDACTED]","ok":1}`},
		{"literals carry nothing", `{"email":null,"phone_verified":true,"ssn":false}`, `{"email":null,"phone_verified":true,"ssn":false}`},
		{"nested arrays", `{"items":[{"token":"t"},["AKIAIOSFODNN7EXAMPLE"]]}`, `{"items":[{"token":"[REDACTED]"},["[REDACTED_API_KEY]"]]}`},
		{"card as a number", `{"pan":4111111111111111,"n":1234567890123}`, `{"pan":"[REDACTED_CARD]","n":1234567890123}`},
		{"secret in a member name", `{"AKIAIOSFODNN7EXAMPLE":{"x":1}}`, `{"[REDACTED_API_KEY]":{"x":1}}`},
		{"top-level string", `"Bearer abcdefgh12345678"`, `"Bearer [REDACTED_TOKEN]"`},
		{"nothing to redact", `{"path":"docs/README.md","limit":10}`, `{"path":"docs/README.md","limit":10}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := decodeJSON(t, tt.in)
			before := decodeJSON(t, tt.in)
			got := Value(in)
			if diff := cmp.Diff(decodeJSON(t, tt.want), got); diff != "" {
				t.Errorf("Value (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, in); diff != "" {
				t.Errorf("Value modified its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestValueReturnsACopy(t *testing.T) {
	in := map[string]any{"a": []any{"x", map[string]any{"b": "y"}}}
	out := Value(in).(map[string]any)
	out["a"].([]any)[1].(map[string]any)["b"] = "changed"
	if in["a"].([]any)[1].(map[string]any)["b"] != "y" {
		t.Error("the result of Value shares structure with its input")
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"order kept", `{"z":1,"password":"p","a":{"token":"t","b":2}}`, `{"z":1,"password":"[REDACTED]","a":{"token":"[REDACTED]","b":2}}`},
		{"unchanged is the same bytes", "{ \"a\" : [1, 2] }\n", "{ \"a\" : [1, 2] }\n"},
		{"every duplicate checked", `{"note":"AKIAIOSFODNN7EXAMPLE","note":"x"}`, `{"note":"[REDACTED_API_KEY]","note":"x"}`},
		{"duplicate sensitive names", `{"password":"a","password":"b"}`, `{"password":"[REDACTED]","password":"[REDACTED]"}`},
		{"sensitive array", `{"keys":["a","b"],"n":[1]}`, `{"keys":"[REDACTED]","n":[1]}`},
		{"literal kept", `{"password":null,"x":1}`, `{"password":null,"x":1}`},
		{"card number", `[4111111111111111, 42]`, `["[REDACTED_CARD]",42]`},
		{"invalid JSON as text", `{"password": "hunter2", oops`, `{"password": "[REDACTED]", oops`},
		{"not JSON at all", `user=a password=b`, `user=a password=[REDACTED]`},
		{"invalid UTF-8 kept", "{\"a\":\"\xff\",\"token\":\"t\"}", "{\"a\":\"\ufffd\",\"token\":\"[REDACTED]\"}"},
		{"stream of values", "{\"token\":1}\n{\"a\":2}", "{\"token\":\"[REDACTED]\"}\n{\"a\":2}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			got := JSON(in)
			if string(got) != tt.want {
				t.Errorf("JSON(%s):\n got %s\nwant %s", tt.in, got, tt.want)
			}
			if string(in) != tt.in {
				t.Error("JSON modified its input")
			}
		})
	}
}

func TestPreviewTruncates(t *testing.T) {
	long := `{"password":"p","text":"` + strings.Repeat("é", 600) + `"}`
	got := Preview([]byte(long))
	if !strings.HasPrefix(got, `{"password":"[REDACTED]"`) {
		t.Errorf("preview %q does not start with the redacted document", got[:40])
	}
	if n := utf8.RuneCountInString(got); n > auditlog.MaxFieldChars+40 {
		t.Errorf("preview has %d characters, want at most %d plus the marker", n, auditlog.MaxFieldChars)
	}
	full := utf8.RuneCountInString(string(JSON([]byte(long))))
	if want := "...[TRUNCATED from " + strconv.Itoa(full) + " chars]"; !strings.HasSuffix(got, want) {
		t.Errorf("preview ends %q, want %q: the marker gives the redacted document's length", got[len(got)-40:], want)
	}
	// A secret that straddles the cut is redacted before the cut, so no fragment survives.
	edge := `{"x":"` + strings.Repeat("a", 480) + ` AKIAIOSFODNN7EXAMPLE"}`
	if got := Preview([]byte(edge)); strings.Contains(got, "AKIA") {
		t.Errorf("preview kept a fragment of a key: ...%s", got[len(got)-60:])
	}
}

func TestRecord(t *testing.T) {
	r := auditlog.Record{
		Tool: "login", Agent: "agent-1", RuleID: "r1",
		ArgsPreview:   `{"user":"a","password":"hunter2"}`,
		ResultPreview: `{"content":[{"type":"text","text":"key AKIAIOSFODNN7EXAMPLE"}]}`,
		Reason:        "upstream said: invalid token=abc123",
		EngineError:   "dial https://u:p@db.example: refused",
		Detail:        strings.Repeat("x", 2000),
	}
	got := Record(r, []byte(r.ArgsPreview), []byte(r.ResultPreview))
	want := r
	want.ArgsPreview = `{"user":"a","password":"[REDACTED]"}`
	want.ResultPreview = `{"content":[{"type":"text","text":"key [REDACTED_API_KEY]"}]}`
	want.Reason = "upstream said: invalid token=[REDACTED]"
	want.EngineError = "dial https://[REDACTED_URL_CREDENTIALS]@db.example: refused"
	want.Detail = strings.Repeat("x", 500) + "...[TRUNCATED from 2000 chars]"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Record (-want +got):\n%s", diff)
	}
	if r.ArgsPreview != `{"user":"a","password":"hunter2"}` {
		t.Error("Record modified its argument")
	}
}

// Documents with nothing to redact are read on the fast path; anything else goes to the decoder.
func TestUntouched(t *testing.T) {
	for _, doc := range []string{
		`{"message":"hello from loadgen"}`, `{"content":[{"type":"text","text":"Echo: line one\nline \"two\""}]}`,
		`{"password":null,"token":"[REDACTED]","secret":false}`, `[1,-2.5e3,"é",{"a":{}}]`, `"plain"`, ` {"a" : 1 } `,
	} {
		if !untouched([]byte(doc)) {
			t.Errorf("%s: not untouched", doc)
		}
	}
	for _, doc := range []string{
		`{"password":"hunter2"}`, `{"token":{"a":1}}`, `{"secret":42}`, `{"note":"key AKIAIOSFODNN7EXAMPLE"}`, `[4111111111111111]`,
		`{"a":1}{"b":2}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `not json`, `{"a":`,
	} {
		if untouched([]byte(doc)) {
			t.Errorf("%s: untouched", doc)
		}
	}
}
