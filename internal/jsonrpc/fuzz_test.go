package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`,
		`{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"a"}]}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"\u0061":2}}`,
		`[1,2]`, `{"id":1`, "{\"s\":\"\xff\"}", `{"jsonrpc":"2.0","id":1e3,"error":{"code":1,"message":""}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// A frame read without the full decoder must read the same with it.
		if fast, ok := parseOrdinary(raw, 16); ok {
			full, err := parseFull(raw, Limits{MaxBytes: 1 << 16, MaxDepth: 16})
			if err != nil {
				t.Fatalf("read %q without the decoder; the decoder refuses it: %v", raw, err)
			}
			if fast.ID != full.ID || fast.Method != full.Method || !bytes.Equal(fast.Params, full.Params) ||
				!bytes.Equal(fast.Result, full.Result) || !bytes.Equal(fast.Error, full.Error) ||
				fast.params != full.params || fast.result != full.result {
				t.Fatalf("%q read differently:\n fast %+v\n full %+v", raw, fast, full)
			}
		}
		m, err := Parse(raw, Limits{MaxBytes: 1 << 16, MaxDepth: 16})
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FrameError", err)
			}
			ErrorResponse(fe.ID, fe.Code, fe.Detail, nil) // must not panic
			return
		}
		// Anything accepted is valid UTF-8 JSON that encoding/json also accepts, and it is an object
		// without duplicate members (checked on the decoded envelope: a strict decode is stricter).
		if !utf8.Valid(raw) || !json.Valid(raw) {
			t.Fatalf("accepted a frame encoding/json rejects: %q", raw)
		}
		if depth(raw) > 16 {
			t.Fatalf("accepted a frame deeper than the limit")
		}
		if m.Params != nil && !json.Valid(m.Params) {
			t.Fatalf("params span is not a JSON value: %q", m.Params)
		}
		if m.Result != nil && !json.Valid(m.Result) {
			t.Fatalf("result span is not a JSON value: %q", m.Result)
		}
		if m.Params != nil {
			again, err := Parse(m.WithParams(m.Params), Limits{MaxBytes: 1 << 16, MaxDepth: 16})
			if err != nil || !bytes.Equal(again.Raw, raw) {
				t.Fatalf("splicing params back changed the frame: %v", err)
			}
		}
	})
}

func FuzzSalvageID(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":12,"method":"x"`))
	f.Add([]byte(`{"params":{"id":99},"id":"top"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id := SalvageID(raw)
		if !id.IsZero() && !json.Valid(id.Raw()) {
			t.Fatalf("salvaged id %q is not JSON", id.Raw())
		}
	})
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\nccc"), 2)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = limit%64 + 1
		if limit < 1 {
			limit += 64
		}
		lr := NewLineReader(bytes.NewReader(in), limit)
		for i := 0; i <= len(in)+1; i++ {
			line, err := lr.Next()
			if err == io.EOF {
				return
			}
			if errors.Is(err, ErrTooLong) {
				continue
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if len(line) > limit || bytes.ContainsRune(line, '\n') {
				t.Fatalf("line %q breaks the limit %d or holds a newline", line, limit)
			}
		}
		t.Fatalf("reader did not reach EOF")
	})
}
