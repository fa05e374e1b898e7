package state

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestReserveAtomicUnderConcurrency(t *testing.T) {
	m := NewMemory(nil)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, admitted, _, _ := m.Reserve(context.Background(), "k", 100, 2000, 0); admitted {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := ok.Load(); got != 20 {
		t.Errorf("admitted %d reservations of 100 under a limit of 2000, want exactly 20", got)
	}
}

func TestReserveReleaseAndWindow(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 20, 10, 0, 30, 0, time.UTC)}
	m := NewMemory(clk.now)
	ctx := context.Background()
	_, ok, rel, _ := m.Reserve(ctx, "b", 400, 500, time.Minute)
	if !ok {
		t.Fatal("first reservation refused")
	}
	if _, ok, _, _ := m.Reserve(ctx, "b", 200, 500, time.Minute); ok {
		t.Fatal("reservation over the limit admitted")
	}
	rel()
	rel() // second call must not give back twice
	if total, ok, _, _ := m.Reserve(ctx, "b", 500, 500, time.Minute); !ok || total != 500 {
		t.Fatalf("after release: total %v ok %v, want 500 true", total, ok)
	}
	if _, ok, _, _ := m.Reserve(ctx, "b", 1, 500, time.Minute); ok {
		t.Fatal("double release gave back twice")
	}
	clk.t = clk.t.Add(time.Minute) // next window
	if total, ok, _, _ := m.Reserve(ctx, "b", 500, 500, time.Minute); !ok || total != 500 {
		t.Fatalf("new window: total %v ok %v, want 500 true", total, ok)
	}
}

func TestAdmitRate(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := NewMemory(clk.now)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if ok, _, _, _ := m.Admit(ctx, "r", 3, time.Second); !ok {
			t.Fatalf("call %d of a burst of 3 refused", i+1)
		}
	}
	ok, retry, _, _ := m.Admit(ctx, "r", 3, time.Second)
	if ok {
		t.Fatal("4th call within a second admitted")
	}
	if retry <= 0 || retry > time.Second/3 {
		t.Errorf("retryAfter = %v, want within (0, 333ms]", retry)
	}
	clk.t = clk.t.Add(time.Second / 3)
	if ok, _, rel, _ := m.Admit(ctx, "r", 3, time.Second); !ok {
		t.Fatal("a slot should have refilled after 1/3 s")
	} else {
		rel()
	}
	if ok, _, _, _ := m.Admit(ctx, "r", 3, time.Second); !ok {
		t.Fatal("released slot not given back")
	}
}

func TestKill(t *testing.T) {
	m := NewMemory(nil)
	ctx := context.Background()
	m.Kill(ctx, "session:s1", "rule k")
	if s, r, _ := m.Killed(ctx, "all", "session:s1"); s != "session:s1" || r != "rule k" {
		t.Errorf("Killed = %q %q", s, r)
	}
	m.Lift(ctx, "session:s1")
	if s, _, _ := m.Killed(ctx, "all", "session:s1"); s != "" {
		t.Errorf("still killed after Lift: %q", s)
	}
}
