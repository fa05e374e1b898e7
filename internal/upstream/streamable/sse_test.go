package streamable

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEventReader(t *testing.T) {
	in := ": keep-alive\n\nid: 1\ndata: {\"a\":1}\n\nevent: message\r\ndata: line1\r\ndata: line2\r\nretry: 500\r\n\r\nid: prime\ndata:\n\ndata: last"
	er := NewEventReader(strings.NewReader(in), 1024)
	var got []Event
	for {
		ev, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, *ev)
	}
	want := []Event{
		{ID: "1", Data: []byte(`{"a":1}`)},
		{Name: "message", Data: []byte("line1\nline2"), Retry: 500},
		{ID: "prime", Data: []byte{}},
		{Data: []byte("last")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Name != want[i].Name || !bytes.Equal(got[i].Data, want[i].Data) || got[i].Retry != want[i].Retry {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestEventReaderLimit(t *testing.T) {
	big := "data: " + strings.Repeat("x", 2000) + "\n\n"
	if _, err := NewEventReader(strings.NewReader(big), 1000).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("oversize event: %v, want ErrEventTooLarge", err)
	}
	many := strings.Repeat("data: "+strings.Repeat("y", 100)+"\n", 20) + "\n"
	if _, err := NewEventReader(strings.NewReader(many), 1000).Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("an event over the limit across lines: %v, want ErrEventTooLarge", err)
	}
}

func TestWriteEventRoundTrip(t *testing.T) {
	var b bytes.Buffer
	WriteEvent(&b, "7", []byte(`{"jsonrpc":"2.0","method":"x"}`))
	ev, err := NewEventReader(&b, 1024).Next()
	if err != nil || ev.ID != "7" || string(ev.Data) != `{"jsonrpc":"2.0","method":"x"}` {
		t.Errorf("round trip: %+v %v", ev, err)
	}
}

func TestHeaderValueEncoding(t *testing.T) {
	tests := []struct{ in, encoded string }{
		{"us-west1", "us-west1"},
		{"Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="},
		{" padded ", "=?base64?IHBhZGRlZCA=?="},
		{"line1\nline2", "=?base64?bGluZTEKbGluZTI=?="},
		{"=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="},
	}
	for _, tt := range tests {
		if got := EncodeHeaderValue(tt.in); got != tt.encoded {
			t.Errorf("EncodeHeaderValue(%q) = %q, want %q", tt.in, got, tt.encoded)
		}
		if got, err := DecodeHeaderValue(tt.encoded); err != nil || got != tt.in && strings.TrimSpace(tt.in) == tt.in {
			t.Errorf("DecodeHeaderValue(%q) = %q, %v", tt.encoded, got, err)
		}
	}
	for _, bad := range []string{"=?base64?SGVsbG8?=", "=?base64?S$GVs?="} {
		if _, err := DecodeHeaderValue(bad); err == nil {
			t.Errorf("DecodeHeaderValue(%q) accepted invalid Base64", bad)
		}
	}
	for _, literal := range []string{"=?base64?abc", "abc?=", "  plain  "} {
		got, err := DecodeHeaderValue(literal)
		if err != nil || got != strings.TrimSpace(literal) {
			t.Errorf("DecodeHeaderValue(%q) = %q, %v; want the literal", literal, got, err)
		}
	}
}

func FuzzEventReader(f *testing.F) {
	f.Add([]byte("id: 1\ndata: {}\n\n"), 64)
	f.Add([]byte(":\n\ndata: a\r\ndata: b\r\n\r\n"), 16)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = limit%4096 + 1
		if limit < 1 {
			limit += 4096
		}
		er := NewEventReader(bytes.NewReader(in), limit)
		for i := 0; i <= len(in)+1; i++ {
			ev, err := er.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > limit {
				t.Fatalf("event data of %d bytes over the limit %d", len(ev.Data), limit)
			}
		}
		t.Fatal("reader did not end")
	})
}

func FuzzDecodeHeaderValue(f *testing.F) {
	f.Add("=?base64?SGVsbG8sIOS4lueVjA==?=")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := DecodeHeaderValue(v)
		if err != nil {
			return
		}
		if again, err := DecodeHeaderValue(EncodeHeaderValue(got)); err != nil || again != got {
			t.Fatalf("encode/decode of %q gave %q, %v", got, again, err)
		}
	})
}
