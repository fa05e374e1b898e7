package gateway

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// gatedRecords stands in for the audit log: a record is durable once the test says so.
type gatedRecords struct {
	mu    sync.Mutex
	gates map[*auditlog.Pending]chan error
}

func (g *gatedRecords) pending() (*auditlog.Pending, chan<- error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ch := new(auditlog.Pending), make(chan error, 1)
	g.gates[p] = ch
	return p, ch
}

func (g *gatedRecords) durable(p *auditlog.Pending) error {
	g.mu.Lock()
	ch := g.gates[p]
	g.mu.Unlock()
	return <-ch
}

func newTestWriter() (*writer, *syncBuffer, *gatedRecords) {
	out, recs := &syncBuffer{}, &gatedRecords{gates: map[*auditlog.Pending]chan error{}}
	return newWriter(out, recs.durable, slog.New(slog.DiscardHandler)), out, recs
}

// eventually waits for the client to have received want.
func eventually(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := out.String(); got != want {
		t.Fatalf("client received %q, want %q", got, want)
	}
}

// TestWriterAnswersInlineWhenIdle: with nothing queued, sendNow writes in the caller's goroutine
// (the writer's own goroutine is not even running here).
func TestWriterAnswersInlineWhenIdle(t *testing.T) {
	w, out, recs := newTestWriter()
	p, gate := recs.pending()
	gate <- nil
	w.sendNow([]byte(`{"id":1}`), held{pending: p, id: jsonrpc.StringID("1")})
	w.sendNow([]byte(`{"id":2}`), held{})
	if got, want := out.String(), "{\"id\":1}\n{\"id\":2}\n"; got != want {
		t.Fatalf("after sendNow returned, the client has %q, want %q", got, want)
	}
}

// TestWriterKeepsOrder: a frame sent inline never overtakes one queued before it, which is held for
// its audit record; a frame whose record failed is replaced by an audit_unavailable refusal; close
// writes what is queued and drops what comes after.
func TestWriterKeepsOrder(t *testing.T) {
	w, out, recs := newTestWriter()
	withheld3 := string(auditFailed(jsonrpc.StringID("3"), "dec_3")) + "\n"
	go w.run()
	p1, gate1 := recs.pending()
	w.send([]byte(`{"id":1}`), held{pending: p1, id: jsonrpc.StringID("1"), decisionID: "dec_1"})
	w.sendNow([]byte(`{"id":2}`), held{}) // queued behind 1, not written now
	p3, gate3 := recs.pending()
	w.sendNow([]byte(`{"id":3}`), held{pending: p3, id: jsonrpc.StringID("3"), decisionID: "dec_3"})
	time.Sleep(20 * time.Millisecond)
	if got := out.String(); got != "" {
		t.Fatalf("frames overtook the one held for its audit record: client has %q", got)
	}
	gate3 <- errors.New("disk full")
	gate1 <- nil
	eventually(t, out, "{\"id\":1}\n{\"id\":2}\n"+withheld3)

	// Idle again: inline.
	w.sendNow([]byte(`{"id":4}`), held{})
	if got, want := out.String(), "{\"id\":1}\n{\"id\":2}\n"+withheld3+"{\"id\":4}\n"; got != want {
		t.Fatalf("client has %q, want %q", got, want)
	}

	p5, gate5 := recs.pending()
	w.send([]byte(`{"id":5}`), held{pending: p5})
	closed := make(chan struct{})
	go func() { w.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned before the queued frame was written")
	case <-time.After(20 * time.Millisecond):
	}
	gate5 <- nil
	<-closed
	w.send([]byte(`{"id":6}`), held{})
	w.sendNow([]byte(`{"id":7}`), held{})
	if got, want := out.String(), "{\"id\":1}\n{\"id\":2}\n"+withheld3+"{\"id\":4}\n{\"id\":5}\n"; got != want {
		t.Fatalf("client has %q, want %q", got, want)
	}
}

// TestWriterBoundsItsQueue: behind a frame held for its record, at most maxQueuedFrames wait; the
// next sender blocks until the queue moves.
func TestWriterBoundsItsQueue(t *testing.T) {
	w, out, recs := newTestWriter()
	go w.run()
	defer w.close()
	p, gate := recs.pending()
	w.send([]byte(`{"held":true}`), held{pending: p})
	for !w.holding() { // the goroutine has taken the held frame
		time.Sleep(time.Millisecond)
	}
	for range maxQueuedFrames {
		w.send([]byte(`{}`), held{})
	}
	sent := make(chan struct{})
	go func() { w.send([]byte(`{"last":true}`), held{}); close(sent) }()
	select {
	case <-sent:
		t.Fatal("a sender went past a full queue")
	case <-time.After(50 * time.Millisecond):
	}
	gate <- nil
	<-sent
	want := `{"held":true}` + "\n" + string(bytes.Repeat([]byte("{}\n"), maxQueuedFrames)) + `{"last":true}` + "\n"
	eventually(t, out, want)
}

// TestWriterBoundsItsQueuedBytes: behind a held frame, frames wait up to maxQueuedBytes; a frame
// that would pass it waits until the queue moves, and one always goes into an empty queue.
func TestWriterBoundsItsQueuedBytes(t *testing.T) {
	w, out, recs := newTestWriter()
	w.maxSize = 100
	go w.run()
	defer w.close()
	p, gate := recs.pending()
	w.send([]byte(`{"held":true}`), held{pending: p})
	for !w.holding() {
		time.Sleep(time.Millisecond)
	}
	big := []byte(`{"x":"` + strings.Repeat("a", 150) + `"}`) // over the bound alone: queued, as the queue is empty
	w.send(big, held{})
	sent := make(chan struct{})
	go func() { w.send([]byte(`{"last":true}`), held{}); close(sent) }()
	select {
	case <-sent:
		t.Fatal("a sender went past the queue's byte bound")
	case <-time.After(50 * time.Millisecond):
	}
	gate <- nil
	<-sent
	eventually(t, out, `{"held":true}`+"\n"+string(big)+"\n"+`{"last":true}`+"\n")
}

// holding says the writer is writing a frame (or waiting for its record) with none queued.
func (w *writer) holding() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy && len(w.queue) == 0
}
