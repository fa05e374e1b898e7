package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
	"github.com/redis/go-redis/v9"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// maker makes an empty store with a clock (nil: time.Now) and bounds (0: the defaults).
type maker func(now func() time.Time, maxKeys, perCaller int) Store

// TestStores runs the same tests on each Store: what holds for one process's memory must hold for
// the Redis the replicas share.
func TestStores(t *testing.T) {
	tests := map[string]func(*testing.T, maker){
		"ReserveAtomicUnderConcurrency":      testReserveAtomicUnderConcurrency,
		"ReserveReleaseAndWindow":            testReserveReleaseAndWindow,
		"AdmitRate":                          testAdmitRate,
		"Kill":                               testKill,
		"ForgetDropsWhatAHolderKept":         testForgetDropsWhatAHolderKept,
		"BoundedStoreRefusesNewKeysWhenFull": testBoundedStoreRefusesNewKeysWhenFull,
		"FullStoreSweepsWhatHasExpired":      testFullStoreSweepsWhatHasExpired,
		"KeysPerCallerAndIdle":               testKeysPerCallerAndIdle,
		"IdleCounterStartsAgain":             testIdleCounterStartsAgain,
		"ApprovalHoldOutcomes":               testApprovalHoldOutcomes,
		"ApprovalRoundTrip":                  testApprovalRoundTrip,
		"ApprovalExpiry":                     testApprovalExpiry,
		"ApprovalMaxPending":                 testApprovalMaxPending,
		"ApprovalMaxPendingPerCaller":        testApprovalMaxPendingPerCaller,
		"ApprovalListAndRetention":           testApprovalListAndRetention,
		"ApprovalErrors":                     testApprovalErrors,
		"ApprovalConcurrency":                testApprovalConcurrency,
	}
	rdb := redisClient(t)
	n := 0
	makers := map[string]maker{
		"memory": func(now func() time.Time, maxKeys, perCaller int) Store {
			return NewMemoryBounded(now, cmp.Or(maxKeys, DefaultMaxKeys), cmp.Or(perCaller, DefaultMaxKeysPerCaller))
		},
		"redis": func(now func() time.Time, maxKeys, perCaller int) Store {
			n++ // each store its own keys in the one server
			return NewRedis(rdb, RedisOptions{Prefix: fmt.Sprintf("t%d:", n), Now: now, MaxKeys: maxKeys, MaxKeysPerCaller: perCaller})
		},
	}
	for store, mk := range makers {
		for name, test := range tests {
			t.Run(store+"/"+name, func(t *testing.T) { test(t, mk) })
		}
	}
}

// redisClient starts a redis-server for the test and returns a client of it.
func redisClient(t *testing.T) *redis.Client {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// keys returns how many counters and cells s keeps.
func keys(t *testing.T, s Store) int {
	t.Helper()
	n, err := s.(interface {
		Keys(context.Context) (int, error)
	}).Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A counter unused past its idle time starts again from zero, whether or not it was swept yet.
func testIdleCounterStartsAgain(t *testing.T, mk maker) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := mk(clk.now, 0, 0)
	ctx := context.Background()
	k := Key{Holder: "run:/r", Name: "b", Owner: "o", Idle: time.Hour}
	if total, ok, _, err := m.Reserve(ctx, k, 7, 10, 0); !ok || total != 7 || err != nil {
		t.Fatalf("first: %v %v %v", total, ok, err)
	}
	clk.t = clk.t.Add(59 * time.Minute)
	if total, ok, _, _ := m.Reserve(ctx, k, 4, 10, 0); ok || total != 7 {
		t.Fatalf("within the idle time: total %v ok %v, want 7 false (still counted)", total, ok)
	}
	clk.t = clk.t.Add(61 * time.Minute)
	if total, ok, _, _ := m.Reserve(ctx, k, 4, 10, 0); !ok || total != 4 {
		t.Fatalf("after an idle hour: total %v ok %v, want 4 true (started again)", total, ok)
	}
}

func testReserveAtomicUnderConcurrency(t *testing.T, mk maker) {
	m := mk(nil, 0, 0)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, admitted, _, _ := m.Reserve(context.Background(), Key{Holder: "h", Name: "k"}, 100, 2000, 0); admitted {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := ok.Load(); got != 20 {
		t.Errorf("admitted %d reservations of 100 under a limit of 2000, want exactly 20", got)
	}
}

func testReserveReleaseAndWindow(t *testing.T, mk maker) {
	clk := &clock{t: time.Date(2026, 11, 20, 10, 0, 30, 0, time.UTC)}
	m := mk(clk.now, 0, 0)
	ctx := context.Background()
	_, ok, rel, _ := m.Reserve(ctx, Key{Holder: "h", Name: "b"}, 400, 500, time.Minute)
	if !ok {
		t.Fatal("first reservation refused")
	}
	if _, ok, _, _ := m.Reserve(ctx, Key{Holder: "h", Name: "b"}, 200, 500, time.Minute); ok {
		t.Fatal("reservation over the limit admitted")
	}
	rel()
	rel() // second call must not give back twice
	if total, ok, _, _ := m.Reserve(ctx, Key{Holder: "h", Name: "b"}, 500, 500, time.Minute); !ok || total != 500 {
		t.Fatalf("after release: total %v ok %v, want 500 true", total, ok)
	}
	if _, ok, _, _ := m.Reserve(ctx, Key{Holder: "h", Name: "b"}, 1, 500, time.Minute); ok {
		t.Fatal("double release gave back twice")
	}
	clk.t = clk.t.Add(time.Minute) // next window
	if total, ok, _, _ := m.Reserve(ctx, Key{Holder: "h", Name: "b"}, 500, 500, time.Minute); !ok || total != 500 {
		t.Fatalf("new window: total %v ok %v, want 500 true", total, ok)
	}
}

func testAdmitRate(t *testing.T, mk maker) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := mk(clk.now, 0, 0)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if ok, _, _, _ := m.Admit(ctx, Key{Holder: "h", Name: "r"}, 3, time.Second); !ok {
			t.Fatalf("call %d of a burst of 3 refused", i+1)
		}
	}
	ok, retry, _, _ := m.Admit(ctx, Key{Holder: "h", Name: "r"}, 3, time.Second)
	if ok {
		t.Fatal("4th call within a second admitted")
	}
	if retry <= 0 || retry > time.Second/3 {
		t.Errorf("retryAfter = %v, want within (0, 333ms]", retry)
	}
	clk.t = clk.t.Add(time.Second / 3)
	if ok, _, rel, _ := m.Admit(ctx, Key{Holder: "h", Name: "r"}, 3, time.Second); !ok {
		t.Fatal("a slot should have refilled after 1/3 s")
	} else {
		rel()
	}
	if ok, _, _, _ := m.Admit(ctx, Key{Holder: "h", Name: "r"}, 3, time.Second); !ok {
		t.Fatal("released slot not given back")
	}
}

func testKill(t *testing.T, mk maker) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := mk(clk.now, 0, 0)
	ctx := context.Background()
	m.Kill(ctx, "session:s1", "rule k")
	clk.t = clk.t.Add(time.Second)
	m.Kill(ctx, "agent:a", "operator")
	m.Kill(ctx, "session:s1", "rule k again") // keeps its time
	if s, r, _ := m.Killed(ctx, "all", "session:s1"); s != "session:s1" || r != "rule k again" {
		t.Errorf("Killed = %q %q", s, r)
	}
	kills, _ := m.Kills(ctx)
	want := []Kill{{"session:s1", "rule k again", time.Unix(1000, 0)}, {"agent:a", "operator", time.Unix(1001, 0)}}
	if !reflect.DeepEqual(kills, want) {
		t.Errorf("Kills = %v, want %v", kills, want)
	}
	if ok, _ := m.Lift(ctx, "session:s1"); !ok {
		t.Error("Lift of a killed scope reported it was not killed")
	}
	if s, _, _ := m.Killed(ctx, "all", "session:s1"); s != "" {
		t.Errorf("still killed after Lift: %q", s)
	}
	if ok, _ := m.Lift(ctx, "session:s1"); ok {
		t.Error("a second Lift reported the scope killed")
	}
}

func testForgetDropsWhatAHolderKept(t *testing.T, mk maker) {
	m := mk(nil, 0, 0)
	ctx := context.Background()
	s1, s2 := Key{Holder: "session:s1", Name: "budget:b:session"}, Key{Holder: "session:s2", Name: "budget:b:session"}
	m.Reserve(ctx, s1, 10, 10, 0)
	m.Reserve(ctx, s2, 10, 10, 0)
	m.Admit(ctx, Key{Holder: "session:s1", Name: "rate:r:session"}, 1, time.Hour)
	m.Kill(ctx, "session:s1", "rule k")
	if keys(t, m) != 3 {
		t.Fatalf("Keys = %d, want 3", keys(t, m))
	}
	m.Forget(ctx, "session:s1")
	if keys(t, m) != 1 {
		t.Errorf("Keys after Forget = %d, want 1", keys(t, m))
	}
	if s, _, _ := m.Killed(ctx, "session:s1"); s != "" {
		t.Error("the forgotten session is still killed")
	}
	if _, ok, _, _ := m.Reserve(ctx, s1, 10, 10, 0); !ok {
		t.Error("the forgotten counter still counts")
	}
	if _, ok, _, _ := m.Reserve(ctx, s2, 1, 10, 0); ok {
		t.Error("another session's counter was forgotten too")
	}
}

func testBoundedStoreRefusesNewKeysWhenFull(t *testing.T, mk maker) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := mk(clk.now, 3, 3)
	ctx := context.Background()
	for i := range 3 {
		if _, ok, _, err := m.Reserve(ctx, Key{Holder: fmt.Sprint("run:", i), Name: "b"}, 1, 10, 0); !ok || err != nil {
			t.Fatalf("counter %d: %v %v", i, ok, err)
		}
	}
	if _, _, _, err := m.Reserve(ctx, Key{Holder: "run:new", Name: "b"}, 1, 10, 0); !errors.Is(err, ErrFull) {
		t.Fatalf("a fourth counter: %v, want ErrFull", err)
	}
	if _, _, _, err := m.Admit(ctx, Key{Holder: "run:new", Name: "r"}, 1, time.Minute); !errors.Is(err, ErrFull) {
		t.Fatalf("a rate cell in a full store: %v, want ErrFull", err)
	}
	if _, ok, _, err := m.Reserve(ctx, Key{Holder: "run:0", Name: "b"}, 1, 10, 0); !ok || err != nil {
		t.Errorf("a counter that exists, in a full store: %v %v", ok, err)
	}
	m.Forget(ctx, "run:1")
	if _, ok, _, err := m.Reserve(ctx, Key{Holder: "run:new", Name: "b"}, 1, 10, 0); !ok || err != nil {
		t.Errorf("after a Forget: %v %v", ok, err)
	}
}

// A rate cell whose next arrival time has passed is the same as no cell, so a full store drops it
// at once, and a window's counter goes with its window.
func testFullStoreSweepsWhatHasExpired(t *testing.T, mk maker) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := mk(clk.now, 2, 2)
	ctx := context.Background()
	m.Admit(ctx, Key{Holder: "tool:a", Name: "r"}, 10, time.Second) // next arrival in 100 ms
	m.Reserve(ctx, Key{Holder: "agent:a", Name: "b"}, 1, 10, time.Minute)
	if _, _, _, err := m.Admit(ctx, Key{Holder: "tool:b", Name: "r"}, 10, time.Second); !errors.Is(err, ErrFull) {
		t.Fatalf("a third key: %v, want ErrFull", err)
	}
	clk.t = clk.t.Add(time.Second)
	if ok, _, _, err := m.Admit(ctx, Key{Holder: "tool:b", Name: "r"}, 10, time.Second); !ok || err != nil {
		t.Fatalf("after the first cell refilled: %v %v", ok, err)
	}
	if keys(t, m) != 2 {
		t.Errorf("Keys = %d, want 2 (the window's counter and the new cell)", keys(t, m))
	}
	clk.t = clk.t.Add(time.Minute)
	if _, ok, _, err := m.Reserve(ctx, Key{Holder: "agent:b", Name: "b"}, 1, 10, 0); !ok || err != nil {
		t.Errorf("after the window ended: %v %v", ok, err)
	}
}

// One caller's calls cannot fill the store: past its share, its new keys are refused and others'
// are not. A run's counter that goes unused past its idle time is dropped.
func testKeysPerCallerAndIdle(t *testing.T, mk maker) {
	clk := &clock{t: time.Unix(1000, 0)}
	m := mk(clk.now, 10, 2)
	ctx := context.Background()
	run := func(owner string, i int) Key {
		return Key{Holder: fmt.Sprint("run:/", owner, i), Name: "b", Owner: owner, Idle: time.Hour}
	}
	for i := range 2 {
		if _, ok, _, err := m.Reserve(ctx, run("mallory", i), 1, 10, 0); !ok || err != nil {
			t.Fatalf("mallory's run %d: %v %v", i, ok, err)
		}
	}
	if _, _, _, err := m.Reserve(ctx, run("mallory", 2), 1, 10, 0); !errors.Is(err, ErrCallerFull) {
		t.Fatalf("mallory's third run: %v, want ErrCallerFull", err)
	}
	if _, _, _, err := m.Admit(ctx, Key{Holder: "identity:mallory", Name: "r", Owner: "mallory"}, 1, time.Second); !errors.Is(err, ErrCallerFull) {
		t.Fatalf("mallory's rate cell: %v, want ErrCallerFull", err)
	}
	if _, ok, _, err := m.Reserve(ctx, run("alice", 0), 1, 10, 0); !ok || err != nil {
		t.Errorf("alice's run: %v %v", ok, err)
	}
	if _, ok, _, err := m.Reserve(ctx, run("mallory", 0), 1, 10, 0); !ok || err != nil {
		t.Errorf("mallory's existing counter: %v %v", ok, err)
	}

	clk.t = clk.t.Add(50 * time.Minute)
	m.Reserve(ctx, run("mallory", 0), 1, 10, 0) // used: stays
	clk.t = clk.t.Add(20 * time.Minute)         // run 1 idle 70 minutes
	if _, ok, _, err := m.Reserve(ctx, run("mallory", 2), 1, 10, 0); !ok || err != nil {
		t.Fatalf("mallory's new run once an idle one was dropped: %v %v", ok, err)
	}
	if total, _, _, _ := m.Reserve(ctx, run("mallory", 0), 0, 10, 0); total != 3 {
		t.Errorf("the run in use: total %v, want 3 (kept)", total)
	}
	if keys(t, m) != 2 {
		t.Errorf("Keys = %d, want 2 (alice's run, idle too, dropped as well)", keys(t, m))
	}
}
