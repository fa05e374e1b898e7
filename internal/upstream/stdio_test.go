package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/lineloop"
)

// readers runs a test with the process output read by a goroutine, and by an event loop.
func readers(t *testing.T, test func(t *testing.T, s *Stdio)) {
	t.Run("goroutine", func(t *testing.T) { test(t, nil) })
	t.Run("loop", func(t *testing.T) {
		l, err := lineloop.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		test(t, &Stdio{loop: l})
	})
}

// withReader gives s the reader of via (from readers).
func withReader(s, via *Stdio) *Stdio {
	if via != nil {
		s.ReadOn(via.loop)
	}
	return s
}

// TestHandleFrames: with a frame handler, the process's output goes to it in order, and the
// process's Exited event comes only after the handler has returned for its last line.
func TestHandleFrames(t *testing.T) { readers(t, testHandleFrames) }

func testHandleFrames(t *testing.T, via *Stdio) {
	s := withReader(NewStdio(StdioConfig{Name: "printer", Command: []string{"sh", "-c", `printf 'one\ntwo\n'; sleep 0.05; printf 'three\n'; exit 3`},
		BackoffInitial: time.Hour, Logger: slog.New(slog.DiscardHandler)}), via)
	var mu sync.Mutex
	var got []string
	s.HandleFrames(func(ev Event, more bool) {
		if ev.Kind != Frame || ev.Gen != 1 {
			t.Errorf("handler got event kind %d gen %d, want a Frame of gen 1", ev.Kind, ev.Gen)
		}
		time.Sleep(10 * time.Millisecond) // a slow handler must still be done before Exited
		mu.Lock()
		got = append(got, string(ev.Frame))
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var kinds []EventKind
	for ev := range s.Events() {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == Exited {
			mu.Lock()
			if want := []string{"one", "two", "three"}; !slices.Equal(got, want) {
				t.Errorf("frames handled before Exited: got %q, want %q", got, want)
			}
			mu.Unlock()
			cancel()
		}
	}
	if want := []EventKind{Started, Exited}; !slices.Equal(kinds, want) {
		t.Errorf("events on the channel: got %v, want %v (frames go to the handler only)", kinds, want)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestOutputHeldOpen: a process whose output outlives it (a child it left behind holds its stdout)
// is read for a second after it exits, then cut off; its Exited event follows, and it restarts.
func TestOutputHeldOpen(t *testing.T) { readers(t, testOutputHeldOpen) }

func testOutputHeldOpen(t *testing.T, via *Stdio) {
	s := withReader(NewStdio(StdioConfig{Name: "forker", Command: []string{"sh", "-c", `sleep 3 & printf 'one\n'; exit 2`},
		BackoffInitial: 10 * time.Millisecond, StopGrace: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}), via)
	var mu sync.Mutex
	var got []string
	s.HandleFrames(func(ev Event, more bool) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%d:%s", ev.Gen, ev.Frame))
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	start := time.Now()
	var kinds []string
	for ev := range s.Events() {
		kinds = append(kinds, fmt.Sprintf("%d:%d", ev.Kind, ev.Gen))
		if ev.Kind == Exited && ev.Gen == 1 {
			if d := time.Since(start); d < 900*time.Millisecond || d > 2500*time.Millisecond {
				t.Errorf("Exited after %v, want about a second (the wait for its output)", d)
			}
		}
		if ev.Kind == Started && ev.Gen == 2 {
			cancel()
		}
	}
	if want := []string{"1:1", "4:1", "1:2"}; !slices.Equal(kinds, want) {
		t.Errorf("events (kind:gen) %v, want %v", kinds, want)
	}
	mu.Lock()
	if len(got) == 0 || got[0] != "1:one" {
		t.Errorf("frames %q, want 1:one first", got)
	}
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// startStdio runs s until the test ends and waits for its first process to start.
func startStdio(t *testing.T, s *Stdio) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range s.Events() {
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case ev := <-s.Events():
		if ev.Kind != Started {
			t.Fatalf("first event: kind %d, want Started", ev.Kind)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not start")
	}
}

// TestSendNeverWaits: a server that does not read its input must not make Send wait (the gateway's
// event loop calls it); past the backlog limit Send fails instead.
func TestSendNeverWaits(t *testing.T) {
	s := NewStdio(StdioConfig{Name: "deaf", Command: []string{"sleep", "30"}, MaxFrame: 64 << 10,
		BackoffInitial: time.Hour, StopGrace: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	startStdio(t, s)
	frame := []byte(`"` + strings.Repeat("a", 30<<10) + `"`)
	var full error
	start := time.Now()
	for i := 0; i < 20 && full == nil; i++ {
		full = s.Send(1, frame)
	}
	if !errors.Is(full, ErrBacklogFull) {
		t.Fatalf("20 frames of 30 KiB to a server that reads nothing: %v, want ErrBacklogFull", full)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v in all", d)
	}
	if err := s.Send(2, frame); !errors.Is(err, ErrNotRunning) {
		t.Errorf("send to a generation that never ran: %v", err)
	}
}

// TestSendKeepsOrder: frames queued behind a full pipe reach the process whole and in order.
func TestSendKeepsOrder(t *testing.T) { readers(t, testSendKeepsOrder) }

func testSendKeepsOrder(t *testing.T, via *Stdio) {
	s := withReader(NewStdio(StdioConfig{Name: "cat", Command: []string{"cat"}, MaxFrame: 4 << 20,
		BackoffInitial: time.Hour, Logger: slog.New(slog.DiscardHandler)}), via)
	var mu sync.Mutex
	var got []string
	all := make(chan struct{})
	const frames = 400
	s.HandleFrames(func(ev Event, more bool) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(ev.Frame))
		if len(got) == frames {
			close(all)
		}
	})
	startStdio(t, s)
	var want []string
	for i := range frames {
		f := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("p", 5000+i))
		want = append(want, f)
		if err := s.Send(1, []byte(f)); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("the process echoed %d frames, not the %d sent in order", len(got), frames)
	}
}
