package streamable

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// resumeBackend lets a test drive the streams: its GET streams relay what is pushed on notes, and a
// tools/call streams what is pushed on steps and answers when steps is closed.
type resumeBackend struct {
	fakeBackend
	notes   chan []byte
	started chan struct{} // a Listen started
	ended   chan struct{} // a Listen ended
	steps   chan []byte
	// called receives a tools/call's context error when it returns: nil unless it was cancelled.
	called chan error
}

func newResumeBackend() *resumeBackend {
	return &resumeBackend{notes: make(chan []byte), started: make(chan struct{}, 8), ended: make(chan struct{}, 8),
		steps: make(chan []byte), called: make(chan error, 8)}
}

// wantCancelled waits (up to 5 s) for the backend's call to end, and requires it to have been
// cancelled with what, which has gone.
func (b *resumeBackend) wantCancelled(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-b.called:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the request ended with %v, want it cancelled with %s", err, what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the request outlived %s", what)
	}
}

func (b *resumeBackend) Listen(ctx context.Context, _ *Session, out Stream) {
	b.started <- struct{}{}
	defer func() { b.ended <- struct{}{} }()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-b.notes:
			out.Send(f)
		}
	}
}

func (b *resumeBackend) Request(ctx context.Context, ex *Exchange, ans Answer) {
	if ex.Msg.Method != "tools/call" {
		b.fakeBackend.Request(ctx, ex, ans)
		return
	}
	ans.Stream()
	for {
		select {
		case <-ctx.Done():
			b.called <- ctx.Err()
			return
		case f, ok := <-b.steps:
			if !ok {
				ans.Finish(jsonrpc.Result(ex.Msg.ID, []byte(`{"ok":true}`)), http.StatusOK)
				b.called <- ctx.Err()
				return
			}
			ans.Send(f)
		}
	}
}

// newHandler is newTestHandler that also returns the handler, for tests that look inside sessions.
func newHandler(t *testing.T, cfg Config, b Backend) (*Handler, *httptest.Server) {
	t.Helper()
	cfg.Auth, cfg.Logger, cfg.Loopback = whoAuth{}, slog.New(slog.NewTextHandler(io.Discard, nil)), true
	h := New(cfg, b)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return h, srv
}

// waitOrphaned waits until the transport saw the client of a session's streamed answer go away
// (the request then goes on for a resumption, ended only with the session).
func waitOrphaned(t *testing.T, h *Handler, sid string) {
	t.Helper()
	sess := h.Sessions().get(sid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		sess.events.mu.Lock()
		orphaned := false
		for _, st := range sess.events.streams {
			orphaned = orphaned || !st.get && st.cancel != nil
		}
		sess.events.mu.Unlock()
		if orphaned {
			return
		}
	}
	t.Fatal("the transport did not see the client go away")
}

func note(i int) []byte {
	return []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"note ` + strconv.Itoa(i) + `"}}`)
}

func progress(i int) []byte {
	return []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":` + strconv.Itoa(i) + `}}`)
}

// legacyClient is one legacy session of a test.
type legacyClient struct {
	t                 *testing.T
	url, sid, version string
	who               string
}

func openSession(t *testing.T, url, version, who string) *legacyClient {
	t.Helper()
	resp, body := do(t, url, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": who}})
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("initialize opened no session: %d %s", resp.StatusCode, body)
	}
	return &legacyClient{t: t, url: url, sid: sid, version: version, who: who}
}

func (c *legacyClient) send(ctx context.Context, method, body, lastEventID string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	req.Header.Set("Mcp-Session-Id", c.sid)
	req.Header.Set("MCP-Protocol-Version", c.version)
	req.Header.Set("X-Who", c.who)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// call posts a tools/call and returns its stream.
func (c *legacyClient) call() *sse {
	c.t.Helper()
	return c.stream(c.send(context.Background(), http.MethodPost, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow"}}`, ""))
}

// get opens (or, with an id, resumes) a GET stream.
func (c *legacyClient) get(lastEventID string) *sse {
	c.t.Helper()
	return c.stream(c.send(context.Background(), http.MethodGet, "", lastEventID))
}

func (c *legacyClient) stream(resp *http.Response) *sse {
	c.t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s: %d %q %s, want a 200 event stream", resp.Request.Method, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &sse{t: c.t, resp: resp, r: upstream.NewEventReader(resp.Body, 1<<20)}
}

// sse reads one event stream.
type sse struct {
	t    *testing.T
	resp *http.Response
	r    *upstream.EventReader
}

// next returns the next n events.
func (s *sse) next(n int) []*upstream.Event {
	s.t.Helper()
	var out []*upstream.Event
	for range n {
		ev, err := s.r.Next()
		if err != nil {
			s.t.Fatalf("reading event %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, ev)
	}
	return out
}

// end checks that the stream ends with no more events.
func (s *sse) end() {
	s.t.Helper()
	if ev, err := s.r.Next(); err != io.EOF {
		s.t.Errorf("got event %+v (%v), want the end of the stream", ev, err)
	}
}

// cut drops the connection, as a network failure would.
func (s *sse) cut() { s.resp.Body.Close() }

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func ids(evs []*upstream.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func datas(evs []*upstream.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Data))
	}
	return out
}

func mustParse(t *testing.T, id string) (tag string, n, seq uint32) {
	t.Helper()
	tag, n, seq, err := parseEventID(id)
	if err != nil {
		t.Fatalf("event id %q: %v", id, err)
	}
	return tag, n, seq
}

func TestEventIDs(t *testing.T) {
	for _, tt := range []struct {
		version string
		primed  bool
	}{
		{"2025-11-25", true},
		{"2025-06-18", false},
		{"2025-03-26", false},
	} {
		t.Run(tt.version, func(t *testing.T) {
			b := newResumeBackend()
			srv := newTestHandler(t, Config{}, b)
			c := openSession(t, srv.URL, tt.version, "alice")
			seen := map[string]bool{}
			var tag string
			streams := map[uint32]bool{}
			check := func(what string, evs []*upstream.Event, wantData []string) {
				t.Helper()
				if tt.primed {
					if evs[0].ID == "" || len(evs[0].Data) != 0 {
						t.Errorf("%s: first event %+v, want a priming event (an id, no data)", what, evs[0])
					}
					evs = evs[1:]
				}
				if got := datas(evs); strings.Join(got, "\n") != strings.Join(wantData, "\n") {
					t.Errorf("%s: got %q, want %q", what, got, wantData)
				}
				var stream, last uint32
				for i, e := range evs {
					if seen[e.ID] {
						t.Errorf("%s: id %q used twice in the session", what, e.ID)
					}
					seen[e.ID] = true
					g, n, seq := mustParse(t, e.ID)
					if tag == "" {
						tag = g
					}
					if g != tag {
						t.Errorf("%s: tag %q, want the session's %q", what, g, tag)
					}
					if i == 0 {
						stream = n
						if streams[n] {
							t.Errorf("%s: stream %d already used", what, n)
						}
						streams[n] = true
					}
					if n != stream || seq <= last {
						t.Errorf("%s: id %q after seq %d of stream %d, want the same stream and an increasing seq", what, e.ID, last, stream)
					}
					last = seq
				}
			}
			primed := 0
			if tt.primed {
				primed = 1
			}

			call := c.call()
			b.steps <- progress(1)
			b.steps <- progress(2)
			close(b.steps)
			check("POST answer", call.next(primed+3), []string{string(progress(1)), string(progress(2)), `{"jsonrpc":"2.0","id":9,"result":{"ok":true}}`})
			call.end()

			for i := range 2 { // every GET is a stream of its own
				get := c.get("")
				wait(t, b.started, "the GET stream")
				b.notes <- note(i)
				check("GET stream", get.next(primed+1), []string{string(note(i))})
				get.cut()
				wait(t, b.ended, "the GET stream's end")
			}
		})
	}
	t.Run("2026-07-28 answers carry no id", func(t *testing.T) {
		srv := newTestHandler(t, Config{}, &fakeBackend{stream: true})
		resp, body := do(t, srv.URL, modern("tools/list", "", nil))
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || strings.Contains(body, "id:") {
			t.Errorf("modern stream %q: %q, want events without id", resp.Header.Get("Content-Type"), body)
		}
	})
}

func TestResumeGETStream(t *testing.T) {
	b := newResumeBackend()
	srv := newTestHandler(t, Config{}, b)
	c := openSession(t, srv.URL, "2025-11-25", "alice")

	first := c.get("")
	wait(t, b.started, "the GET stream")
	b.notes <- note(1)
	b.notes <- note(2)
	got := first.next(3)[1:] // after the priming event
	// An answer streamed meanwhile is another stream: never replayed on this one.
	call := c.call()
	b.steps <- progress(1)
	close(b.steps)
	call.next(3)
	for i := 3; i <= 5; i++ {
		b.notes <- note(i)
	}
	got = append(got, first.next(3)...)
	first.cut() // the client processed only notes 1 and 2

	resumed := c.get(got[1].ID)
	replayed := resumed.next(3)
	if want := ids(got[2:]); strings.Join(ids(replayed), " ") != strings.Join(want, " ") {
		t.Errorf("replayed ids %q, want %q (the missed events, in order, with their ids)", ids(replayed), want)
	}
	if want := datas(got[2:]); strings.Join(datas(replayed), "\n") != strings.Join(want, "\n") {
		t.Errorf("replayed %q, want %q", datas(replayed), want)
	}
	wait(t, b.ended, "the first GET's Listen to end") // cut, or taken over by the resumption
	wait(t, b.started, "the resumed stream's Listen")
	b.notes <- note(6)
	live := resumed.next(1)[0]
	if string(live.Data) != string(note(6)) {
		t.Errorf("after the replay: %s, want note 6 live and no duplicate", live.Data)
	}
	tag, n, _ := mustParse(t, got[0].ID)
	if want := tag + "-" + strconv.Itoa(int(n)) + "-6"; live.ID != want {
		t.Errorf("live event id %q, want %q (the same stream, continued)", live.ID, want)
	}

	// Resuming from the priming event replays everything retained.
	resumed.cut()
	wait(t, b.ended, "the resumed GET's Listen to end")
	again := c.get(tag + "-" + strconv.Itoa(int(n)) + "-0")
	all := again.next(6)
	for i, e := range all {
		if string(e.Data) != string(note(i+1)) {
			t.Errorf("replay from the start: event %d is %s, want note %d", i, e.Data, i+1)
		}
	}
}

func TestResumePOSTAnswer(t *testing.T) {
	final := `{"jsonrpc":"2.0","id":9,"result":{"ok":true}}`
	for _, tt := range []struct {
		name string
		// answerFirst: the request ends before the client resumes; otherwise while it is resumed.
		answerFirst bool
		// fromPriming resumes from the priming event, before the first message.
		fromPriming bool
	}{
		{"answered before the resumption", true, false},
		{"answered during the resumption", false, false},
		{"resumed from the priming event", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newResumeBackend()
			h, srv := newHandler(t, Config{}, b)
			c := openSession(t, srv.URL, "2025-11-25", "alice")
			call := c.call()
			b.steps <- progress(1)
			seen := call.next(2) // priming, progress 1
			call.cut()           // before the final response
			waitOrphaned(t, h, c.sid)
			last := seen[1].ID
			want := []string{string(progress(2)), final}
			if tt.fromPriming {
				last = seen[0].ID
				want = append([]string{string(progress(1))}, want...)
			}
			finish := func() {
				b.steps <- progress(2)
				close(b.steps)
				select {
				case err := <-b.called:
					if err != nil {
						t.Errorf("the request ended with %v, want it to outlive its client (disconnection is not cancellation)", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the request did not end")
				}
			}
			if tt.answerFirst {
				finish()
			}
			resumed := c.get(last)
			if !tt.answerFirst {
				finish()
			}
			evs := resumed.next(len(want))
			if got := datas(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("resumed answer %q, want %q", got, want)
			}
			_, n0, _ := mustParse(t, seen[0].ID)
			for _, e := range evs {
				if _, n, _ := mustParse(t, e.ID); n != n0 {
					t.Errorf("event %q is not of the answer's stream %d", e.ID, n0)
				}
			}
			resumed.end() // the answer is complete: the stream ends after the final response
		})
	}
}

func TestDisconnectBeforeAnIDCancels(t *testing.T) {
	b := newResumeBackend()
	srv := newTestHandler(t, Config{}, b)
	c := openSession(t, srv.URL, "2025-06-18", "alice") // no priming event: no id before the first message
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", c.sid)
	req.Header.Set("X-Who", "alice")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	b.wantCancelled(t, "a client that had no id to resume it with")
}

func TestResumeWithForeignOrMalformedID(t *testing.T) {
	b := newResumeBackend()
	srv := newTestHandler(t, Config{}, b)
	a := openSession(t, srv.URL, "2025-11-25", "alice")
	first := a.get("")
	wait(t, b.started, "A's GET stream")
	b.notes <- []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"A's secret"}}`)
	aEvents := first.next(2)
	first.cut()
	wait(t, b.ended, "A's GET stream's end")
	aTag, aStream, _ := mustParse(t, aEvents[1].ID)

	other := openSession(t, srv.URL, "2025-11-25", "alice")
	for _, id := range []string{
		aEvents[0].ID, // another session's id: its stream is unknown here
		aEvents[1].ID,
		aTag + "-" + strconv.Itoa(int(aStream)+50) + "-1",
	} {
		t.Run("foreign "+id, func(t *testing.T) {
			s := other.get(id)
			wait(t, b.started, "the new stream")
			b.notes <- note(7)
			evs := s.next(2)
			if len(evs[0].Data) != 0 || string(evs[1].Data) != string(note(7)) {
				t.Errorf("got %q, want a clean new stream: a priming event, then only what is new", datas(evs))
			}
			if tag, _, _ := mustParse(t, evs[0].ID); tag == aTag {
				t.Errorf("the new stream's id %q has the other session's tag", evs[0].ID)
			}
			s.cut()
			wait(t, b.ended, "the stream's end")
		})
	}
	t.Run("a session's own unknown stream", func(t *testing.T) {
		s := a.get(aTag + "-999-3")
		wait(t, b.started, "the new stream")
		b.notes <- note(8)
		if evs := s.next(2); string(evs[1].Data) != string(note(8)) {
			t.Errorf("got %q, want a new stream", datas(evs))
		}
		s.cut()
		wait(t, b.ended, "the stream's end")
	})
	for _, id := range []string{"garbage", "1-2", "0123456g-1-1", "0123ABCD-1-1", "01234567-01-1", "01234567-0-1", "01234567-1-x", "01234567-1-2-3", "01234567-1-99999999999"} {
		t.Run("malformed "+id, func(t *testing.T) {
			resp := other.send(context.Background(), http.MethodGet, "", id)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("Last-Event-ID %q: %d, want 400", id, resp.StatusCode)
			}
		})
	}
	t.Run("another caller", func(t *testing.T) {
		mallory := &legacyClient{t: t, url: srv.URL, sid: a.sid, version: a.version, who: "mallory"}
		if resp := mallory.send(context.Background(), http.MethodGet, "", aEvents[1].ID); resp.StatusCode != http.StatusNotFound {
			t.Errorf("another caller resuming A's stream: %d, want 404", resp.StatusCode)
		}
	})
}

func TestReplayBufferBound(t *testing.T) {
	t.Run("through the handler", func(t *testing.T) {
		b := newResumeBackend()
		srv := newTestHandler(t, Config{ReplayEvents: 2}, b)
		c := openSession(t, srv.URL, "2025-11-25", "alice")
		s := c.get("")
		wait(t, b.started, "the GET stream")
		for i := 1; i <= 5; i++ {
			b.notes <- note(i)
		}
		evs := s.next(6)
		s.cut()
		resumed := c.get(evs[1].ID) // after note 1: notes 2 and 3 were evicted
		if got := datas(resumed.next(2)); got[0] != string(note(4)) || got[1] != string(note(5)) {
			t.Errorf("replayed %q, want only the 2 events the buffer holds (notes 4 and 5)", got)
		}
	})

	frame := func(n int) []byte { return []byte(strings.Repeat("x", n)) }
	tests := []struct {
		name   string
		bounds replayBounds
		frames []int // sizes, recorded on streams alternately when two is set
		two    bool
		after  time.Duration // prune this long after recording
		// want is the seqs retained of the first stream; lost whether a replay from 0 misses some.
		want []uint32
		lost bool
	}{
		{"within bounds", replayBounds{events: 8, bytes: 100, age: time.Minute}, []int{1, 1, 1}, false, 0, []uint32{1, 2, 3}, false},
		{"count", replayBounds{events: 3, bytes: 100, age: time.Minute}, []int{1, 1, 1, 1, 1, 1}, false, 0, []uint32{4, 5, 6}, true},
		{"bytes", replayBounds{events: 8, bytes: 10, age: time.Minute}, []int{4, 4, 4, 4}, false, 0, []uint32{3, 4}, true},
		{"an event beyond the byte bound is not kept", replayBounds{events: 8, bytes: 10, age: time.Minute}, []int{20}, false, 0, nil, true},
		{"the bound is the session's, over every stream", replayBounds{events: 3, bytes: 100, age: time.Minute}, []int{1, 1, 1, 1}, true, 0, []uint32{2}, true},
		{"age", replayBounds{events: 8, bytes: 100, age: time.Minute}, []int{1, 1}, false, 2 * time.Minute, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l eventLog
			a, ga := l.open(false, nil)
			bs, gb := l.open(false, nil)
			for i, size := range tt.frames {
				st, gen := a, ga
				if tt.two && i%2 == 1 {
					st, gen = bs, gb
				}
				l.record(st, gen, frame(size), false, tt.bounds)
				if len(l.events) > tt.bounds.events || l.bytes > tt.bounds.bytes {
					t.Fatalf("after %d events: %d events, %d bytes retained, beyond %+v", i+1, len(l.events), l.bytes, tt.bounds)
				}
			}
			l.prune(time.Now().Add(tt.after), tt.bounds)
			_, evs, lost, _ := l.attach(a, 0, nil)
			var got []uint32
			for _, e := range evs {
				got = append(got, e.seq)
			}
			if !slices.Equal(got, tt.want) || lost != tt.lost {
				t.Errorf("retained %v (lost %v), want %v (lost %v)", got, lost, tt.want, tt.lost)
			}
		})
	}
}

// TestIdleSessionKeepsNothing checks that an idle session's replay state costs nothing once its
// events age out, and that the session's end drops everything and ends what still produces.
func TestIdleSessionKeepsNothing(t *testing.T) {
	bounds := replayBounds{events: 8, bytes: 1 << 10, age: time.Minute}
	var l eventLog
	st, gen := l.open(false, nil)
	l.record(st, gen, []byte("x"), true, bounds)
	get, ggen := l.open(true, nil)
	l.record(get, ggen, []byte("y"), false, bounds)
	l.detach(get, ggen)
	l.prune(time.Now().Add(2*time.Minute), bounds)
	if l.events != nil || l.streams != nil || l.bytes != 0 {
		t.Errorf("an idle log keeps %d events, %d streams, %d bytes; want nothing", len(l.events), len(l.streams), l.bytes)
	}

	cancelled := false
	live, lgen := l.open(false, func() { cancelled = true })
	l.record(live, lgen, []byte("z"), false, bounds)
	l.end()
	if !cancelled || l.events != nil || l.streams != nil {
		t.Errorf("after the session's end: cancelled %v, %d events, %d streams; want the request cancelled and nothing kept", cancelled, len(l.events), len(l.streams))
	}
	if id, recorded, _ := l.record(live, lgen, []byte("late"), false, bounds); recorded || id != "" {
		t.Errorf("an event after the session's end was recorded as %q", id)
	}
}

// TestSessionEndFreesTheBuffer checks that DELETE drops the session's replay buffer.
func TestSessionEndFreesTheBuffer(t *testing.T) {
	b := newResumeBackend()
	h, srv := newHandler(t, Config{}, b)
	c := openSession(t, srv.URL, "2025-11-25", "alice")
	sess := h.Sessions().get(c.sid)
	call := c.call()
	b.steps <- progress(1)
	close(b.steps)
	call.next(3)
	sess.events.mu.Lock()
	kept := len(sess.events.events)
	sess.events.mu.Unlock()
	if kept != 2 {
		t.Fatalf("%d events kept, want 2", kept)
	}
	if resp := c.send(context.Background(), http.MethodDelete, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	sess.events.mu.Lock()
	defer sess.events.mu.Unlock()
	if sess.events.events != nil || sess.events.streams != nil || !sess.events.ended {
		t.Errorf("the ended session keeps %d events and %d streams", len(sess.events.events), len(sess.events.streams))
	}
}

// TestOrphanedRequestEndsWithTheSession checks that a request that outlived its client for a
// resumption is cancelled when the session ends: nobody could resume it any more.
func TestOrphanedRequestEndsWithTheSession(t *testing.T) {
	b := newResumeBackend()
	h, srv := newHandler(t, Config{}, b)
	c := openSession(t, srv.URL, "2025-11-25", "alice")
	call := c.call()
	b.steps <- progress(1)
	call.next(2)
	call.cut()
	waitOrphaned(t, h, c.sid)
	select {
	case err := <-b.called:
		t.Fatalf("the request ended (%v) when its client went away holding an id", err)
	case <-time.After(100 * time.Millisecond):
	}
	if resp := c.send(context.Background(), http.MethodDelete, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	b.wantCancelled(t, "its session")
}

// TestReplayTotalBound checks that all sessions' buffers together stay within the handler's total,
// each session losing its own oldest events, and that a session's end gives its bytes back.
func TestReplayTotalBound(t *testing.T) {
	total := new(atomic.Int64)
	bounds := replayBounds{events: 100, bytes: 1000, age: time.Minute, total: total, totalBytes: 25}
	logs := make([]*eventLog, 4)
	for i := range logs {
		logs[i] = new(eventLog)
		st, gen := logs[i].open(false, nil)
		for range 5 {
			logs[i].record(st, gen, []byte("0123456789"), false, bounds) // 10 bytes each
			if total.Load() > bounds.totalBytes {
				t.Fatalf("session %d: %d bytes retained in all, beyond %d", i, total.Load(), bounds.totalBytes)
			}
		}
	}
	var sum int64
	for _, l := range logs {
		sum += int64(l.bytes)
	}
	if sum != total.Load() {
		t.Errorf("sessions hold %d bytes, the total says %d", sum, total.Load())
	}
	for _, l := range logs {
		l.end()
	}
	if total.Load() != 0 {
		t.Errorf("after every session ended the total is %d, want 0", total.Load())
	}
}
