package auditsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

// recorder is a Deliverer that keeps what it is given; fail decides each attempt's error.
type recorder struct {
	mu      sync.Mutex
	bodies  [][]byte
	counts  []int
	fail    func(attempt int) error
	attempt int
	block   chan struct{} // when set, Deliver waits for it (or ctx)
}

func (r *recorder) Deliver(ctx context.Context, body []byte, n int) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempt++
	if r.fail != nil {
		if err := r.fail(r.attempt); err != nil {
			return err
		}
	}
	r.bodies = append(r.bodies, bytes.Clone(body))
	r.counts = append(r.counts, n)
	return nil
}

func (r *recorder) all() ([]byte, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.bodies, nil), append([]int(nil), r.counts...)
}

// lines returns n audit-like lines from seq first on.
func lines(first, n int) []byte {
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"v":2,"seq":%d,"time":"2026-11-21T00:00:00.000000Z","type":"decision","hash":"%064d"}`+"\n", i, i)
	}
	return b.Bytes()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Lines go out in order, in batches of at most BatchRecords, byte for byte.
func TestSinkBatchesInOrder(t *testing.T) {
	r := &recorder{}
	s := New(Options{Name: "t", Deliverer: r, BatchRecords: 500, FlushInterval: 20 * time.Millisecond})
	defer s.Close(time.Second)
	want := lines(1, 1200)
	for i := 1; i <= 1200; i += 100 {
		s.Export(lines(i, 100)) // as the writer does: several lines a call
	}
	waitFor(t, "1200 lines", func() bool { got, _ := r.all(); return len(got) == len(want) })
	got, counts := r.all()
	if !bytes.Equal(got, want) {
		t.Fatalf("delivered lines differ from those exported")
	}
	sum := 0
	for i, n := range counts {
		if n > 500 || n < 1 || bytes.Count(r.bodies[i], newline) != n {
			t.Errorf("batch %d: %d lines (body of %d), want 1 to 500", i, n, bytes.Count(r.bodies[i], newline))
		}
		sum += n
	}
	if st := s.Stats(); sum != 1200 || st.Sent != 1200 || st.Dropped != 0 || st.Failures != 0 {
		t.Errorf("%d lines in batches, stats %+v", sum, st)
	}
}

// A full batch goes at once; a lone line waits for the flush interval, not for a full batch.
func TestSinkFlushes(t *testing.T) {
	r := &recorder{}
	s := New(Options{Name: "t", Deliverer: r, BatchRecords: 50, FlushInterval: time.Hour})
	s.Export(lines(1, 50))
	waitFor(t, "the full batch", func() bool { _, c := r.all(); return len(c) == 1 && c[0] == 50 })
	s.Close(time.Second)

	r = &recorder{}
	s = New(Options{Name: "t", Deliverer: r, BatchRecords: 50, FlushInterval: 50 * time.Millisecond})
	defer s.Close(time.Second)
	s.Export(lines(1, 1))
	waitFor(t, "the lone line", func() bool { got, _ := r.all(); return bytes.Equal(got, lines(1, 1)) })
}

// A full queue drops new lines (never reorders), counts them, and logs the seq of the first one
// dropped; the queue then takes lines again.
func TestSinkDropsWhenFull(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	r := &recorder{block: make(chan struct{})}
	s := New(Options{Name: "slow", Deliverer: r, BatchRecords: 10, FlushInterval: 10 * time.Millisecond, QueueBytes: len(lines(1, 25)),
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	s.Export(lines(1, 10)) // a full batch: taken for delivery, which blocks
	waitFor(t, "the first batch in flight", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.inFlight > 0 })
	s.Export(lines(11, 10))
	s.Export(lines(21, 10)) // room for 5 of these: 25 lines in all with the 10 in flight and 10 queued
	s.Export(lines(31, 5))
	if st := s.Stats(); st.Dropped != 10 {
		t.Errorf("dropped %d lines, want 10", st.Dropped)
	}
	close(r.block)
	waitFor(t, "the queue delivered", func() bool { got, _ := r.all(); return len(got) == len(lines(1, 25)) })
	got, _ := r.all()
	if !bytes.Equal(got, lines(1, 25)) {
		t.Errorf("delivered lines are not seq 1 to 25 in order")
	}
	s.Export(lines(36, 1))
	waitFor(t, "a line after the overflow", func() bool { got, _ := r.all(); return bytes.HasSuffix(got, lines(36, 1)) })
	s.Close(time.Second)
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "queue full") || !strings.Contains(logs.String(), "lines=10 first_seq=26") {
		t.Errorf("the drop is not logged with its count and first seq:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A failure worth retrying is retried with the same lines until it succeeds; a final one drops
// that batch only.
func TestSinkRetriesAndDrops(t *testing.T) {
	r := &recorder{fail: func(attempt int) error {
		switch attempt {
		case 1, 2:
			return errors.New("answered 503")
		case 3:
			return nil
		case 4:
			return &webhook.FinalError{Err: errors.New("answered 400")}
		}
		return nil
	}}
	s := New(Options{Name: "t", Deliverer: r, BatchRecords: 5, FlushInterval: 10 * time.Millisecond, backoff: time.Millisecond})
	s.Export(lines(1, 5))
	waitFor(t, "the retried batch", func() bool { got, _ := r.all(); return len(got) > 0 })
	s.Export(lines(6, 5)) // refused for good
	waitFor(t, "the refused batch", func() bool { return s.Stats().Dropped == 5 })
	s.Export(lines(11, 5))
	waitFor(t, "the batch after", func() bool { _, c := r.all(); return len(c) == 2 })
	s.Close(time.Second)
	got, _ := r.all()
	if want := append(lines(1, 5), lines(11, 5)...); !bytes.Equal(got, want) {
		t.Errorf("delivered:\n%s\nwant seq 1-5 and 11-15", got)
	}
	if st := s.Stats(); st.Sent != 10 || st.Dropped != 5 || st.Failures != 3 {
		t.Errorf("stats %+v, want 10 sent, 5 dropped, 3 failures", st)
	}
}

// Close delivers what is queued; with a receiver that never answers well it gives up when its
// timeout ends and counts what it could not deliver. Lines exported after Close are dropped.
func TestSinkClose(t *testing.T) {
	r := &recorder{}
	s := New(Options{Name: "t", Deliverer: r, BatchRecords: 1000, FlushInterval: time.Hour})
	s.Export(lines(1, 7))
	s.Close(time.Second)
	if got, _ := r.all(); !bytes.Equal(got, lines(1, 7)) {
		t.Errorf("Close did not deliver the queue: %q", got)
	}
	s.Export(lines(8, 1))
	if st := s.Stats(); st.Dropped != 1 || st.Sent != 7 {
		t.Errorf("after Close: %+v, want the late line dropped", st)
	}
	s.Close(time.Second) // idempotent

	down := &recorder{fail: func(int) error { return errors.New("connection refused") }}
	s = New(Options{Name: "down", Deliverer: down, BatchRecords: 2, FlushInterval: time.Hour, backoff: time.Hour})
	s.Export(lines(1, 5))
	start := time.Now()
	s.Close(300 * time.Millisecond)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s with a 300ms timeout", d)
	}
	if st := s.Stats(); st.Dropped != 5 || st.Sent != 0 || st.Failures < 2 {
		t.Errorf("a receiver that is down: %+v, want all 5 dropped after retries", st)
	}
}

func TestSeqOf(t *testing.T) {
	for in, want := range map[string]string{
		string(lines(42, 2)):                 "42",
		`{"v":1,"seq":7,"time":"x"}` + "\n":  "7",
		`{"v":2}` + "\n" + `{"v":2,"seq":9}`: "", // not the first line's
		`{"v":2,"seq":}`:                     "",
		"":                                   "",
	} {
		if got := seqOf([]byte(in)); got != want {
			t.Errorf("seqOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// The webhook deliverer posts the lines as they are, as application/x-ndjson, signed and with the
// receiver's credential.
func TestWebhookDeliverer(t *testing.T) {
	type got struct {
		header http.Header
		body   []byte
	}
	ch := make(chan got, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.Header, b}
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	wh := &Webhook{URL: srv.URL, Secret: []byte("s3cret"), Header: http.Header{"Authorization": {"Bearer abc"}},
		Client: webhook.Client(time.Second), Now: func() time.Time { return now }}
	s := New(Options{Name: "siem", Deliverer: wh, BatchRecords: 3, FlushInterval: 10 * time.Millisecond})
	defer s.Close(time.Second)
	s.Export(lines(1, 3))
	select {
	case g := <-ch:
		if !bytes.Equal(g.body, lines(1, 3)) {
			t.Errorf("body %q", g.body)
		}
		for h, want := range map[string]string{"Content-Type": ContentType, webhook.HeaderEvent: Event, "Authorization": "Bearer abc",
			webhook.HeaderSignature: "sha256=" + webhook.Sign([]byte("s3cret"), "1800000000", g.body)} {
			if g.header.Get(h) != want {
				t.Errorf("%s: %q, want %q", h, g.header.Get(h), want)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing delivered")
	}
}

// A backlog built while the receiver is away drains in order, batch by batch, while new lines keep
// coming (the queue's array is moved down and reused under the batches in flight).
func TestSinkDrainsABacklogInOrder(t *testing.T) {
	r := &recorder{block: make(chan struct{})}
	s := New(Options{Name: "t", Deliverer: r, BatchRecords: 7, FlushInterval: 5 * time.Millisecond})
	defer s.Close(time.Second)
	for i := 1; i <= 3000; i += 3 {
		s.Export(lines(i, 3))
	}
	close(r.block)
	for i := 3001; i <= 4000; i++ {
		s.Export(lines(i, 1))
	}
	want := lines(1, 4000)
	waitFor(t, "the backlog", func() bool { got, _ := r.all(); return len(got) >= len(want) })
	if got, _ := r.all(); !bytes.Equal(got, want) {
		t.Errorf("the backlog was not delivered in order, whole")
	}
}

// BenchmarkExport is what a sink adds to the path of an answer: one record's line handed over.
func BenchmarkExport(b *testing.B) {
	s := New(Options{Name: "b", Deliverer: Stream{W: io.Discard}, BatchRecords: 100_000, FlushInterval: 10 * time.Millisecond, QueueBytes: 1 << 30})
	defer s.Close(time.Second)
	line := lines(1, 1)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		s.Export(line)
	}
}

// A batch the receiver finds too large (413) goes again in halves, down to single lines; one line
// still too large is dropped. A refused credential (401, 403) is retried, not dropped.
func TestSinkSplitsAndKeepsRetryingAuth(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	auth := 2 // answers 401 twice first
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case auth > 0:
			auth--
			w.WriteHeader(http.StatusUnauthorized)
		case bytes.Count(b, newline) > 2 || bytes.Contains(b, []byte(`"seq":5,`)):
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		default:
			got = append(got, b)
		}
	}))
	defer srv.Close()
	s := New(Options{Name: "t", Deliverer: &Webhook{URL: srv.URL, Client: webhook.Client(time.Second)}, BatchRecords: 8,
		FlushInterval: time.Hour, backoff: time.Millisecond})
	s.Export(lines(1, 8))
	s.Close(5 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	want := append(lines(1, 4), lines(6, 3)...)
	if all := bytes.Join(got, nil); !bytes.Equal(all, want) {
		t.Errorf("delivered:\n%s\nwant seq 1-4 and 6-8 in order", all)
	}
	for _, b := range got {
		if bytes.Count(b, newline) > 2 {
			t.Errorf("a delivery of more than 2 lines was accepted: %q", b)
		}
	}
	if st := s.Stats(); st.Sent != 7 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 7 sent and seq 5 dropped", st)
	}
}

// While a receiver is down, a full queue's drops are logged as they happen, not once it recovers.
func TestSinkReportsDropsDuringAnOutage(t *testing.T) {
	var logMu sync.Mutex
	var logs bytes.Buffer
	down := &recorder{fail: func(int) error { return errors.New("connection refused") }}
	s := New(Options{Name: "t", Deliverer: down, BatchRecords: 5, FlushInterval: time.Millisecond, QueueBytes: len(lines(1, 10)),
		backoff: 5 * time.Millisecond, maxBackoff: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	defer s.Close(100 * time.Millisecond)
	s.Export(lines(1, 5))
	waitFor(t, "a failed attempt", func() bool { return s.Stats().Failures > 0 })
	s.Export(lines(6, 20)) // 5 fit
	waitFor(t, "the drop logged", func() bool {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Contains(logs.String(), "lines=15 first_seq=11")
	})
}

// A stream whose reader stops reading holds up its sink, never the writer, and Close still returns
// when its timeout ends.
func TestStreamCloseIsBounded(t *testing.T) {
	pr, pw := io.Pipe() // nobody reads pr
	defer pr.Close()
	s := New(Options{Name: "stuck", Deliverer: Stream{W: pw}, BatchRecords: 1, FlushInterval: time.Millisecond})
	s.Export(lines(1, 1))
	waitFor(t, "the write to start", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.inFlight > 0 })
	start := time.Now()
	s.Export(lines(2, 1)) // the writer's hand-over does not wait for the stuck write
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Export took %s behind a stuck write", d)
	}
	s.Close(200 * time.Millisecond)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s with a 200ms timeout", d)
	}
	if st := s.Stats(); st.Dropped != 2 {
		t.Errorf("stats %+v, want both lines dropped", st)
	}
}
