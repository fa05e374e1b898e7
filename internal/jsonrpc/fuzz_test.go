package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonscan"
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
	lim := Limits{MaxBytes: 1 << 16, MaxDepth: 16, MaxTokens: 40}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// shape counts the tokens of valid JSON as the scanner does.
		d, n := shape(raw, math.MaxInt)
		if json.Valid(raw) && n != scannedTokens(raw) {
			t.Fatalf("shape counts %d tokens in %q, the scanner %d", n, raw, scannedTokens(raw))
		}
		// Stopping at a limit changes nothing under it.
		if cd, cn := shape(raw, 5); (cn > 5) != (n > 5) || cn <= 5 && (cd != d || cn != n) {
			t.Fatalf("shape of %q with limit 5: %d, %d; without: %d, %d", raw, cd, cn, d, n)
		}
		// A frame read without the full decoder must read the same with it.
		if fast, ok := parseOrdinary(raw, lim); ok {
			full, err := parseFull(raw, lim)
			if err != nil {
				t.Fatalf("read %q without the decoder; the decoder refuses it: %v", raw, err)
			}
			if fast.ID != full.ID || fast.Method != full.Method || !bytes.Equal(fast.Params, full.Params) ||
				!bytes.Equal(fast.Result, full.Result) || !bytes.Equal(fast.Error, full.Error) ||
				fast.params != full.params || fast.result != full.result {
				t.Fatalf("%q read differently:\n fast %+v\n full %+v", raw, fast, full)
			}
		}
		m, err := Parse(raw, lim)
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
		if d, _ := shape(raw, math.MaxInt); d > 16 {
			t.Fatalf("accepted a frame deeper than the limit")
		}
		if n := scannedTokens(raw); n > lim.MaxTokens {
			t.Fatalf("accepted a frame of %d tokens, over the limit of %d", n, lim.MaxTokens)
		}
		if m.Params != nil && !json.Valid(m.Params) {
			t.Fatalf("params span is not a JSON value: %q", m.Params)
		}
		if m.Result != nil && !json.Valid(m.Result) {
			t.Fatalf("result span is not a JSON value: %q", m.Result)
		}
		if m.Params != nil {
			again, err := Parse(m.WithParams(m.Params), lim)
			if err != nil || !bytes.Equal(again.Raw, raw) {
				t.Fatalf("splicing params back changed the frame: %v", err)
			}
		}
	})
}

// scannedTokens counts the tokens of valid JSON with jsonscan, the reference for shape.
func scannedTokens(b []byte) int {
	var s jsonscan.Scanner
	s.Reset(b, 0)
	for _, err := s.Next(); err == nil; _, err = s.Next() {
	}
	return s.Tokens()
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

// FuzzLineReader reads a stream in chunks of fuzzed sizes and checks the frames against the framing
// rules applied to the whole input at once: split at every newline; a line longer than the limit is
// reported with its size and first bytes; other lines lose their trailing \r and are skipped if blank.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\nccc"), 2, []byte{1, 3})
	f.Add([]byte("xxxxxxxx\ny\n  \r\nzzzzzzzzz"), 4, []byte{2})
	f.Fuzz(func(t *testing.T, in []byte, limit int, chunks []byte) {
		limit = limit%64 + 1
		if limit < 1 {
			limit += 64
		}
		lr := NewLineReader(&chunkReader{data: in, sizes: chunks}, limit)
		var got []string
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatalf("reader did not reach EOF")
			}
			line, err := lr.Next()
			if err == io.EOF {
				break
			}
			var tl *LineTooLongError
			switch {
			case errors.As(err, &tl):
				got = append(got, fmt.Sprintf("too long %d/%d %q", tl.Size, tl.Limit, tl.Prefix))
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			default:
				got = append(got, string(line))
			}
		}
		var want []string
		lines := bytes.Split(in, []byte("\n"))
		for i, line := range lines {
			if i == len(lines)-1 && len(line) == 0 {
				break // the input ended with a newline
			}
			if len(line) > limit {
				want = append(want, fmt.Sprintf("too long %d/%d %q", len(line), limit, line[:min(len(line), salvagePrefix)]))
				continue
			}
			line = bytes.TrimRight(line, "\r")
			if len(bytes.TrimSpace(line)) > 0 {
				want = append(want, string(line))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("read in chunks %v with limit %d:\n got %q\nwant %q", chunks, limit, got, want)
		}
	})
}

// chunkReader returns data in reads of the given sizes (cycled, modulo 17). A size of 0 is a read
// that returns nothing; never twice in a row.
type chunkReader struct {
	data  []byte
	sizes []byte
	n     int
	empty bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	size := len(c.data)
	if len(c.sizes) > 0 {
		size = int(c.sizes[c.n%len(c.sizes)]) % 17
		c.n++
		if size == 0 && c.empty {
			size = 1
		}
		c.empty = size == 0
	}
	n := copy(p[:min(len(p), size)], c.data)
	c.data = c.data[n:]
	return n, nil
}
