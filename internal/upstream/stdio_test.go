package upstream

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestHandleFrames: with a frame handler, the process's output goes to it in order, and the
// process's Exited event comes only after the handler has returned for its last line.
func TestHandleFrames(t *testing.T) {
	s := NewStdio(StdioConfig{Name: "printer", Command: []string{"sh", "-c", `printf 'one\ntwo\n'; sleep 0.05; printf 'three\n'; exit 3`},
		BackoffInitial: time.Hour, Logger: slog.New(slog.DiscardHandler)})
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
