package lineloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
)

// recorder is a handler that keeps what it is given and checks that handlers never run at once.
type recorder struct {
	t       *testing.T
	running *atomic.Int32 // shared by every recorder of one loop
	mu      sync.Mutex
	frames  []string
	ended   chan error
}

func newRecorder(t *testing.T, running *atomic.Int32) *recorder {
	return &recorder{t: t, running: running, ended: make(chan error, 2)}
}

func (r *recorder) handler() Handler {
	return Handler{
		Frame: func(line []byte, err error, more bool) {
			if r.running.Add(1) != 1 {
				r.t.Error("two handlers ran at once")
			}
			defer r.running.Add(-1)
			r.mu.Lock()
			defer r.mu.Unlock()
			var tl *jsonrpc.LineTooLongError
			if errors.As(err, &tl) {
				r.frames = append(r.frames, fmt.Sprintf("too long %d", tl.Size))
				return
			}
			r.frames = append(r.frames, string(line))
		},
		End: func(err error) { r.ended <- err },
	}
}

// await waits until the recorder holds want.
func (r *recorder) await(want ...string) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := slices.Clone(r.frames)
		r.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) {
			r.t.Fatalf("got %q, want %q", got, want)
		}
		time.Sleep(time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.Fatalf("got %q, want %q", r.frames, want)
}

func (r *recorder) end() error {
	r.t.Helper()
	select {
	case err := <-r.ended:
		return err
	case <-time.After(5 * time.Second):
		r.t.Fatal("the source did not end")
		return nil
	}
}

func startLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return r, w
}

// TestTwoSources: frames from two pipes reach their handlers whole and in order, one handler at a
// time, and half a line on one pipe does not hold up the other.
func TestTwoSources(t *testing.T) {
	l := startLoop(t)
	var running atomic.Int32
	ar, aw := pipe(t)
	br, bw := pipe(t)
	a, b := newRecorder(t, &running), newRecorder(t, &running)
	if _, err := l.Add(ar, 64, a.handler()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(br, 64, b.handler()); err != nil {
		t.Fatal(err)
	}
	aw.WriteString(`{"a":1}` + "\n" + `{"a":`)
	bw.WriteString(`{"b":1}` + "\r\n\n")
	a.await(`{"a":1}`)
	b.await(`{"b":1}`)
	aw.WriteString("2}\n" + strings.Repeat("x", 100) + "\n" + `{"a":3}` + "\n")
	a.await(`{"a":1}`, `{"a":2}`, "too long 100", `{"a":3}`)

	var want []string
	for i := range 500 {
		f := fmt.Sprintf(`{"b":%d}`, i+2)
		want = append(want, f)
		bw.WriteString(f + "\n")
	}
	b.await(append([]string{`{"b":1}`}, want...)...)

	aw.WriteString(`{"last":1}`) // no newline: still a frame at the end of the stream
	aw.Close()
	if err := a.end(); err != nil {
		t.Errorf("end of stream: %v, want nil", err)
	}
	a.await(`{"a":1}`, `{"a":2}`, "too long 100", `{"a":3}`, `{"last":1}`)
	if _, err := ar.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the loop did not close the source it finished: %v", err)
	}
}

// TestBlockingSource: a descriptor in blocking mode (as a client's stdin usually is) is read once per
// readiness, so the loop never waits in read.
func TestBlockingSource(t *testing.T) {
	l := startLoop(t)
	var running atomic.Int32
	r, w := pipe(t)
	if err := syscall.SetNonblock(int(r.Fd()), false); err != nil {
		t.Fatal(err)
	}
	other, otherW := pipe(t)
	rec, orec := newRecorder(t, &running), newRecorder(t, &running)
	if _, err := l.Add(r, 1024, rec.handler()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(other, 1024, orec.handler()); err != nil {
		t.Fatal(err)
	}
	w.WriteString("one\ntw")
	rec.await("one")
	otherW.WriteString("still served\n")
	orec.await("still served")
	w.WriteString("o\n")
	rec.await("one", "two")
}

// TestCutAndClose: a cut source ends with ErrCut and stops being read; Close ends the rest.
func TestCutAndClose(t *testing.T) {
	l, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	var running atomic.Int32
	ar, aw := pipe(t)
	br, _ := pipe(t)
	a, b := newRecorder(t, &running), newRecorder(t, &running)
	sa, err := l.Add(ar, 64, a.handler())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(br, 64, b.handler()); err != nil {
		t.Fatal(err)
	}
	aw.WriteString("before\n")
	a.await("before")
	sa.Cut()
	if err := a.end(); !errors.Is(err, ErrCut) {
		t.Errorf("cut: %v, want ErrCut", err)
	}
	sa.Cut() // a second cut does nothing
	if _, err := aw.WriteString("after\n"); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("writing to a cut source: %v, want EPIPE (its read end closed)", err)
	}
	l.Close()
	if err := b.end(); !errors.Is(err, ErrClosed) {
		t.Errorf("close: %v, want ErrClosed", err)
	}
	l.Close() // idempotent
	sa.Cut()  // after the loop has stopped: nothing
	r, _ := pipe(t)
	if _, err := l.Add(r, 64, Handler{}); !errors.Is(err, ErrClosed) {
		t.Errorf("add after close: %v, want ErrClosed", err)
	}
	select {
	case err := <-a.ended:
		t.Errorf("a source ended twice (%v)", err)
	default:
	}
}

// TestNotPollable: epoll cannot watch a regular file; Add says so and leaves the file to the caller.
func TestNotPollable(t *testing.T) {
	l := startLoop(t)
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	if err := os.WriteFile(path, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := l.Add(f, 64, Handler{}); !errors.Is(err, ErrNotPollable) {
		t.Fatalf("regular file: %v, want ErrNotPollable", err)
	}
	if _, err := f.Stat(); err != nil {
		t.Errorf("the file was not left open: %v", err)
	}
}
