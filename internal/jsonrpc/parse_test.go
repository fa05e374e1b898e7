package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/policy"
)

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		kind       Kind
		method, id string
		params     string
		result     string
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, KindRequest, "tools/call", "1", `{"name":"echo"}`, ""},
		{"string id", `{"jsonrpc":"2.0","id":"abc","method":"ping"}`, KindRequest, "ping", "abc", "", ""},
		{"escaped string id", `{"jsonrpc":"2.0","id":"\u0061b","method":"ping"}`, KindRequest, "ping", "ab", "", ""},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, KindNotification, "notifications/initialized", "", "", ""},
		{"response", `{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}`, KindResponse, "", "7", "", `{"tools":[]}`},
		{"error response", `{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"x"}}`, KindResponse, "", "7", "", ""},
		{"null id error", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}`, KindResponse, "", "", "", ""},
		{"whitespace kept", "{ \"jsonrpc\" : \"2.0\" , \"id\" : 2 , \"method\" : \"x\" , \"params\" : { \"a\" : 1 } }", KindRequest, "x", "2", `{ "a" : 1 }`, ""},
		{"unknown members pass", `{"jsonrpc":"2.0","id":1,"method":"x","extra":[1,2]}`, KindRequest, "x", "1", "", ""},
		{"unicode", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"s":"héllo ✓"}}`, KindRequest, "x", "1", `{"s":"héllo ✓"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in), Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Kind() != tt.kind {
				t.Errorf("kind = %v, want %v", m.Kind(), tt.kind)
			}
			if m.Method != tt.method {
				t.Errorf("method = %q, want %q", m.Method, tt.method)
			}
			if got := m.ID.String(); got != tt.id {
				t.Errorf("id = %q, want %q", got, tt.id)
			}
			if string(m.Params) != tt.params {
				t.Errorf("params = %q, want %q", m.Params, tt.params)
			}
			if tt.result != "" && string(m.Result) != tt.result {
				t.Errorf("result = %q, want %q", m.Result, tt.result)
			}
			if string(m.Raw) != tt.in {
				t.Errorf("raw changed")
			}
			// Every one of these is ordinary: read without the full decoder.
			if _, ok := parseOrdinary([]byte(tt.in), Limits{}.withDefaults()); !ok {
				t.Errorf("not read on the fast path")
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	deep := `{"jsonrpc":"2.0","id":5,"method":"x","params":` + strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70) + "}"
	tests := []struct {
		name   string
		in     string
		lim    Limits
		code   int
		reason policy.Code
		id     string // salvaged id, "" for none
		detail string // substring of Detail
	}{
		{"not json", `hello`, Limits{}, CodeParseError, policy.CodeMalformed, "", "invalid"},
		{"empty", ``, Limits{}, CodeParseError, policy.CodeMalformed, "", "empty"},
		{"truncated", `{"jsonrpc":"2.0","id":3,"method":"x","params":{"a":`, Limits{}, CodeParseError, policy.CodeMalformed, "3", ""},
		{"duplicate member", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a","name":"b"}}`, Limits{}, CodeParseError, policy.CodeMalformed, "3", "duplicate"},
		{"duplicate escaped member", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a","n\u0061me":"b"}}`, Limits{}, CodeParseError, policy.CodeMalformed, "3", "duplicate"},
		{"duplicate nested", `{"jsonrpc":"2.0","id":3,"method":"x","params":{"arguments":{"q":{"k":1,"k":2}}}}`, Limits{}, CodeParseError, policy.CodeMalformed, "3", "duplicate"},
		{"duplicate method", `{"jsonrpc":"2.0","id":3,"method":"tools/list","method":"tools/call"}`, Limits{}, CodeParseError, policy.CodeMalformed, "3", "duplicate"},
		{"duplicate id", `{"jsonrpc":"2.0","id":3,"id":4,"method":"x"}`, Limits{}, CodeParseError, policy.CodeMalformed, "", "duplicate"},
		{"invalid utf8", "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"params\":{\"s\":\"\xff\"}}", Limits{}, CodeParseError, policy.CodeMalformed, "3", "UTF-8"},
		{"too deep", deep, Limits{}, CodeParseError, policy.CodeMalformed, "5", "depth"},
		{"too large", `{"jsonrpc":"2.0","id":9,"method":"x","params":{"s":"` + strings.Repeat("a", 100) + `"}}`, Limits{MaxBytes: 64}, -32010, policy.CodePayloadTooLarge, "9", "exceeds"},
		{"too many tokens", `{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":[1,2,3,4,5]}}`, Limits{MaxTokens: 15}, -32010, policy.CodePayloadTooLarge, "9", "message holds more JSON tokens than the limit of 15"},
		{"too many tokens, read by the decoder", `{"jsonrpc":"2.0","id":9,"method":"x","params":{"\u0061":[1,2,3,4,5]}}`, Limits{MaxTokens: 15}, -32010, policy.CodePayloadTooLarge, "9", "than the limit of 15"},
		{"trailing data", `{"jsonrpc":"2.0","id":3,"method":"x"} {"jsonrpc":"2.0","id":4,"method":"y"}`, Limits{}, CodeParseError, policy.CodeMalformed, "3", "after"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"x"}]`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "", "batches"},
		{"scalar", `42`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "", "object"},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"x"}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "2.0"},
		{"no version", `{"id":1,"method":"x"}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "2.0"},
		{"null request id", `{"jsonrpc":"2.0","id":null,"method":"x"}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "", "null"},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "", "id must be"},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "method"},
		{"scalar params", `{"jsonrpc":"2.0","id":1,"method":"x","params":3}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "params"},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"x","result":{}}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "both"},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "both"},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "", "id"},
		{"nothing", `{"jsonrpc":"2.0","id":1}`, Limits{}, CodeInvalidRequest, policy.CodeMalformed, "1", "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in), tt.lim)
			if err == nil {
				t.Fatalf("Parse accepted %q as %+v", tt.in, m)
			}
			// (Size is checked before either path.)
			if _, ok := parseOrdinary([]byte(tt.in), tt.lim.withDefaults()); ok && tt.reason != policy.CodePayloadTooLarge {
				t.Errorf("the fast path accepted it")
			}
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v, want *FrameError", err, err)
			}
			if fe.Code != tt.code || fe.Reason != tt.reason {
				t.Errorf("code, reason = %d, %s; want %d, %s", fe.Code, fe.Reason, tt.code, tt.reason)
			}
			if got := fe.ID.String(); got != tt.id {
				t.Errorf("salvaged id = %q, want %q", got, tt.id)
			}
			if !strings.Contains(fe.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", fe.Detail, tt.detail)
			}
		})
	}
}

func TestSalvageID(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":12,"method":"x"`, "12"},
		{`{"params":{"id":99,"x":[1,{"id":3}]},"id":"top"}`, "top"},
		{`{"params":{"id":99}}`, ""},
		{`{"id":1,"id":2}`, ""},
		{`{"id":{"a":1}}`, ""},
		{`{"id":null}`, ""},
		{`{"method":"x","params":{"s":"}\"{"},"id":-4}`, "-4"},
		{`[{"id":1}]`, ""},
		{`{"id":"abc`, ""},
	}
	for _, tt := range tests {
		if got := SalvageID([]byte(tt.in)).String(); got != tt.want {
			t.Errorf("SalvageID(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIDKeys(t *testing.T) {
	a, _ := Parse([]byte(`{"jsonrpc":"2.0","id":"a","method":"x"}`), Limits{})
	b, _ := Parse([]byte(`{"jsonrpc":"2.0","id":"\u0061","result":{}}`), Limits{})
	n, _ := Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"x"}`), Limits{})
	s, _ := Parse([]byte(`{"jsonrpc":"2.0","id":"1","method":"x"}`), Limits{})
	if a.ID.Key() != b.ID.Key() {
		t.Errorf("escaped and plain string ids differ: %q vs %q", a.ID.Key(), b.ID.Key())
	}
	if n.ID.Key() == s.ID.Key() {
		t.Errorf("number 1 and string \"1\" share key %q", n.ID.Key())
	}
	if string(b.ID.Raw()) != `"\u0061"` {
		t.Errorf("raw id = %s, want the bytes as received", b.ID.Raw())
	}
}

func TestWithParamsAndResult(t *testing.T) {
	m, err := Parse([]byte(`{"jsonrpc":"2.0", "id":1, "method":"tools/call", "params":{"name":"x","arguments":{"a":1}}}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := string(m.WithParams([]byte(`{"name":"x","arguments":{"a":2}}`)))
	want := `{"jsonrpc":"2.0", "id":1, "method":"tools/call", "params":{"name":"x","arguments":{"a":2}}}`
	if got != want {
		t.Errorf("WithParams = %s, want %s", got, want)
	}
	if !strings.Contains(string(m.Raw), `"a":1`) {
		t.Errorf("original frame was modified: %s", m.Raw)
	}
	r, _ := Parse([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`), Limits{})
	if got, want := string(r.WithResult([]byte(`{"content":[{"type":"text","text":"x"}]}`))), `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"x"}]}}`; got != want {
		t.Errorf("WithResult = %s, want %s", got, want)
	}
	np, _ := Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), Limits{})
	if got, want := string(np.WithParams([]byte(`{}`))), `{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}`; got != want {
		t.Errorf("WithParams on absent params = %s, want %s", got, want)
	}
}

func TestRefusalShape(t *testing.T) {
	m, _ := Parse([]byte(`{"jsonrpc":"2.0","id":"q1","method":"tools/call"}`), Limits{})
	frame := Refusal(m.ID, ErrorData{Reason: policy.CodePolicyDeny, Detail: "no refunds", RuleID: "r1", DecisionID: "d1"})
	var got struct {
		ID    string
		Error struct {
			Code    int
			Message string
			Data    ErrorData
		}
	}
	if err := json.Unmarshal(frame, &got); err != nil {
		t.Fatalf("refusal is not JSON: %v: %s", err, frame)
	}
	if got.ID != "q1" || got.Error.Code != -32001 || got.Error.Data.Reason != policy.CodePolicyDeny ||
		got.Error.Data.RuleID != "r1" || got.Error.Data.DecisionID != "d1" || got.Error.Message != "Denied by policy: no refunds" {
		t.Errorf("refusal = %+v", got)
	}
	if _, err := Parse(frame, Limits{}); err != nil {
		t.Errorf("refusal does not parse strictly: %v", err)
	}
}

func TestReasonCodesInImplementationRange(t *testing.T) {
	seen := map[int]policy.Code{}
	for r, c := range Reasons() {
		if c > -32000 || c < -32019 {
			t.Errorf("%s has code %d outside -32019..-32000", r, c)
		}
		if c <= -32003 && c >= -32005 {
			t.Errorf("%s has code %d, which the Go SDK reads as a closed connection", r, c)
		}
		if other, dup := seen[c]; dup {
			t.Errorf("%s and %s share code %d", r, other, c)
		}
		seen[c] = r
	}
}

func TestLineReader(t *testing.T) {
	in := "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n" + strings.Repeat("x", 300) + "\n{\"c\":3}"
	lr := NewLineReader(strings.NewReader(in), 100)
	var got []string
	for {
		line, err := lr.Next()
		if errors.Is(err, ErrTooLong) {
			var tl *LineTooLongError
			errors.As(err, &tl)
			got = append(got, "TOO LONG")
			if tl.Size != 300 || len(tl.Prefix) != 300 {
				t.Errorf("too long: size %d prefix %d, want 300 and 300", tl.Size, len(tl.Prefix))
			}
			continue
		}
		if err != nil {
			break
		}
		got = append(got, string(line))
	}
	want := []string{`{"a":1}`, `{"b":2}`, "TOO LONG", `{"c":3}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestLineReaderExactLimit(t *testing.T) {
	line := strings.Repeat("a", 100)
	for _, in := range []string{line + "\n", line} {
		lr := NewLineReader(strings.NewReader(in), 100)
		got, err := lr.Next()
		if err != nil || string(got) != line {
			t.Errorf("line of exactly the limit: got %d bytes, %v", len(got), err)
		}
	}
	lr := NewLineReader(strings.NewReader(line+"b"), 100)
	if _, err := lr.Next(); !errors.Is(err, ErrTooLong) {
		t.Errorf("unterminated line over the limit: %v, want ErrTooLong", err)
	}
}

func TestLineReaderLongLineNotBuffered(t *testing.T) {
	// A 20 MiB line against a 1 KiB limit: the reader must stream past it.
	big := bytes.Repeat([]byte("z"), 20<<20)
	lr := NewLineReader(bytes.NewReader(append(append(big, '\n'), []byte(`{"ok":1}`+"\n")...)), 1024)
	if _, err := lr.Next(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if got, err := lr.Next(); err != nil || string(got) != `{"ok":1}` {
		t.Fatalf("after the long line: %q, %v", got, err)
	}
}

// TestErrorsDocMatchesTable keeps the table in docs/errors.md in step with the reasons table.
func TestErrorsDocMatchesTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(doc, []byte("<!-- reasons-table"))
	end := bytes.Index(doc, []byte("<!-- end reasons-table"))
	if start < 0 || end < start {
		t.Fatal("docs/errors.md has no reasons-table markers")
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(doc[start:end]), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "-320") {
			continue
		}
		documented[strings.Trim(strings.TrimSpace(cells[2]), "`")] = strings.TrimSpace(cells[1])
	}
	for reason, code := range Reasons() {
		if got := documented[string(reason)]; got != strconv.Itoa(code) {
			t.Errorf("docs/errors.md lists %s as %q, want %d", reason, got, code)
		}
		delete(documented, string(reason))
	}
	for reason := range documented {
		t.Errorf("docs/errors.md lists %s, which wire.go does not define", reason)
	}
}

func TestSplitterNeverWaits(t *testing.T) {
	s := NewSplitter(1024)
	next := func() string {
		t.Helper()
		line, err := s.Next()
		switch {
		case errors.Is(err, ErrTooLong):
			var tl *LineTooLongError
			errors.As(err, &tl)
			return fmt.Sprintf("too long %d prefix %d", tl.Size, len(tl.Prefix))
		case err != nil:
			return err.Error()
		}
		return string(line)
	}
	feed := func(in string) {
		t.Helper()
		if _, err := s.ReadOnce(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
	}
	if got := next(); got != ErrIncomplete.Error() {
		t.Fatalf("empty splitter: %q", got)
	}
	feed(`{"a":`)
	if got := next(); got != ErrIncomplete.Error() || s.Buffered() != 5 {
		t.Fatalf("half a line: %q, %d buffered", got, s.Buffered())
	}
	feed("1}\n{\"b\"")
	if got := next(); got != `{"a":1}` || s.Buffered() != 4 {
		t.Fatalf("line completed: %q, %d buffered", got, s.Buffered())
	}
	// An oversize line is discarded as it comes: the buffer stays small however long it is.
	feed(":2}" + strings.Repeat("x", 5000))
	for range 2000 {
		feed(strings.Repeat("y", 10000))
		if got := next(); got != ErrIncomplete.Error() {
			t.Fatalf("inside an oversize line: %q", got)
		}
	}
	if cap(s.buf) > 2*readChunk {
		t.Errorf("buffer grew to %d bytes while discarding", cap(s.buf))
	}
	feed("\n{\"c\":3}\n")
	if got, want := next(), fmt.Sprintf("too long %d prefix %d", 4+3+5000+2000*10000, salvagePrefix); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := next(); got != `{"c":3}` {
		t.Fatalf("after the oversize line: %q", got)
	}
	// A big frame's buffer is let go once it has been returned.
	big := NewSplitter(1 << 20)
	r := strings.NewReader(`"` + strings.Repeat("z", 900<<10) + "\"\n")
	for {
		if _, err := big.ReadOnce(r); err == io.EOF {
			break
		}
	}
	if line, err := big.Next(); err != nil || len(line) != 900<<10+2 {
		t.Fatalf("big frame: %d bytes, %v", len(line), err)
	}
	if _, err := big.Next(); err != io.EOF {
		t.Fatalf("after the big frame: %v", err)
	}
	big.reserve()
	if cap(big.buf) > readChunk {
		t.Errorf("buffer kept at %d bytes after the big frame", cap(big.buf))
	}
}

// TestParseTokenLimit: a frame of exactly MaxTokens tokens is read, on either path; the limit's
// default applies to a zero Limits, and Reread applies none.
func TestParseTokenLimit(t *testing.T) {
	for _, in := range []string{
		`{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":[1,2,3,4,5]}}`,
		`{"jsonrpc":"2.0","id":9,"method":"x","params":{"\u0061":[1,2,3,4,5]}}`,
	} {
		if _, err := Parse([]byte(in), Limits{MaxTokens: 16}); err != nil {
			t.Errorf("16 tokens, limit 16: %v", err)
		}
	}
	many := []byte(`{"jsonrpc":"2.0","id":1,"result":{"a":[` + strings.Repeat("0,", DefaultMaxTokens) + `0]}}`)
	if _, err := Parse(many, Limits{}); err == nil || !strings.Contains(err.Error(), "more JSON tokens than the limit of 1000000") {
		t.Errorf("over a million tokens with the default limits: %v", err)
	}
	if _, err := Parse(many, Reread); err != nil {
		t.Errorf("Reread: %v", err)
	}
}
