package state

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
	"github.com/redis/go-redis/v9"
)

// redisReplica is one gateway's store on srv: its own connections, keys under prefix.
func redisReplica(t *testing.T, srv *redistest.Server, prefix string) *Redis {
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { rdb.Close() })
	return NewRedis(rdb, RedisOptions{Prefix: prefix})
}

// Two replicas, each with its own connections to one Redis, share every limit and kill; a gateway
// with another prefix shares nothing with them.
func TestRedisReplicasShareState(t *testing.T) {
	srv := redistest.Start(t)
	a, b, other := redisReplica(t, srv, "gh:"), redisReplica(t, srv, "gh:"), redisReplica(t, srv, "other:")
	ctx := context.Background()
	budget := Key{Holder: "agent:alice", Name: "budget:refunds:agent", Owner: "alice"}

	// 200 concurrent reservations of 100 under a limit of 2000, half through each replica.
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if _, ok, _, err := s.Reserve(ctx, budget, 100, 2000, 0); err != nil {
				t.Error(err)
			} else if ok {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 20 {
		t.Fatalf("admitted %d reservations across two replicas, want exactly 20", got)
	}
	if _, ok, _, _ := other.Reserve(ctx, budget, 100, 2000, 0); !ok {
		t.Error("a gateway with another prefix saw the replicas' budget")
	}

	if err := a.Kill(ctx, "agent:mallory", "operator"); err != nil {
		t.Fatal(err)
	}
	if scope, reason, err := b.Killed(ctx, "all", "agent:mallory"); scope != "agent:mallory" || reason != "operator" || err != nil {
		t.Fatalf("the other replica: Killed = %q %q %v", scope, reason, err)
	}
	if scope, _, _ := other.Killed(ctx, "agent:mallory"); scope != "" {
		t.Error("a gateway with another prefix saw the kill")
	}
	if lifted, err := b.Lift(ctx, "agent:mallory"); !lifted || err != nil {
		t.Fatalf("lift through the other replica: %v %v", lifted, err)
	}
	if scope, _, _ := a.Killed(ctx, "agent:mallory"); scope != "" {
		t.Error("still killed on the first replica after the other lifted it")
	}

	ok, _, _, _ := a.Admit(ctx, Key{Holder: "tool:t", Name: "rate", Owner: "alice"}, 1, time.Hour)
	if !ok {
		t.Fatal("the first call of a rate limit refused")
	}
	if ok, retry, _, _ := b.Admit(ctx, Key{Holder: "tool:t", Name: "rate", Owner: "bob"}, 1, time.Hour); ok || retry <= 0 {
		t.Errorf("the other replica admitted a second call of a limit of one per hour (retry %v)", retry)
	}
}

// What the store keeps expires in Redis, and a forgotten holder leaves nothing behind: not its
// counters, its cells, its kill, nor their entries in the indexes.
func TestRedisForgetLeavesNoKeys(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { rdb.Close() })
	s := NewRedis(rdb, RedisOptions{Prefix: "gh:"})
	ctx := context.Background()
	s.Reserve(ctx, Key{Holder: "session:s1", Name: "budget:b:session", Owner: "alice"}, 1, 10, 0)
	s.Reserve(ctx, Key{Holder: "session:s1", Name: "budget:w:session", Owner: "alice"}, 1, 10, time.Hour)
	s.Admit(ctx, Key{Holder: "session:s1", Name: "rate:r:session", Owner: "alice"}, 10, time.Second)
	s.Kill(ctx, "session:s1", "rule k")

	windowed := s.counterKey(Key{Holder: "session:s1", Name: "budget:w:session@" + time.Now().Truncate(time.Hour).UTC().Format(time.RFC3339Nano)})
	if ttl := rdb.PTTL(ctx, windowed).Val(); ttl <= 0 || ttl > time.Hour+2*time.Minute {
		t.Errorf("a window's counter lives %v in Redis, want its window and a minute", ttl)
	}
	if ttl := rdb.PTTL(ctx, s.cellKey(Key{Holder: "session:s1", Name: "rate:r:session"})).Val(); ttl <= 0 || ttl > 2*time.Minute {
		t.Errorf("a rate cell lives %v in Redis, want until it refills and a minute", ttl)
	}
	if n, _ := s.Keys(ctx); n != 3 {
		t.Errorf("Keys = %d, want 3", n)
	}

	if err := s.Forget(ctx, "session:s1"); err != nil {
		t.Fatal(err)
	}
	if left := rdb.Keys(ctx, "gh:*").Val(); len(left) != 0 {
		t.Errorf("keys left after Forget: %q", left)
	}
}

// A Redis that does not answer is an error for every operation, never a verdict.
func TestRedisUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: t.TempDir() + "/none.sock", MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	s := NewRedis(rdb, RedisOptions{})
	ctx := context.Background()
	k := Key{Holder: "agent:a", Name: "b"}
	if _, ok, rel, err := s.Reserve(ctx, k, 1, 10, 0); err == nil || ok || rel != nil {
		t.Errorf("Reserve: ok %v err %v", ok, err)
	}
	if ok, _, rel, err := s.Admit(ctx, k, 1, time.Second); err == nil || ok || rel != nil {
		t.Errorf("Admit: ok %v err %v", ok, err)
	}
	if _, _, err := s.Killed(ctx, "all"); err == nil {
		t.Error("Killed: no error")
	}
	if err := s.Kill(ctx, "all", "x"); err == nil {
		t.Error("Kill: no error")
	}
	if _, err := s.Kills(ctx); err == nil {
		t.Error("Kills: no error")
	}
	if err := s.Forget(ctx, "session:s"); err == nil {
		t.Error("Forget: no error")
	}
}

func TestRedisURLs(t *testing.T) {
	for _, tc := range []struct{ url, err string }{
		{"redis://127.0.0.1:6379/0", ""},
		{"rediss://redis.internal:6380/2", ""},
		{"unix:///run/redis/redis.sock?db=3", ""},
		{"redis://user@127.0.0.1:6379", ""},
		{"redis://user:s3cret-pw@127.0.0.1:6379", "must not hold a password"},
		{"redis://:s3cret-pw@127.0.0.1:6379", "must not hold a password"},
		{"rediss://redis.internal:6380?skip_verify=true", "must not set skip_verify"},
		{"redis://127.0.0.1:6379?password=s3cret-pw", "must not set password"},
		{"http://127.0.0.1:6379", "must begin redis://"},
		{"redis://u:s3cret-pw@host:port", "not a URL"},
		{"redis://127.0.0.1:6379/x", "invalid database"},
		{"redis://127.0.0.1:6379/?bogus=1", "unexpected option"},
	} {
		err := CheckRedisURL(tc.url)
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.url, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%s: the error repeats the password: %v", tc.url, err)
		}
	}
}

// A Redis that requires a password: the right one works, a wrong or missing one fails at dial time
// with Redis's answer, which does not repeat it.
func TestDialRedisPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "correct-horse")
	ctx := context.Background()
	rdb, err := DialRedis(ctx, RedisConn{URL: srv.URL, Password: "correct-horse"})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	for _, pw := range []string{"wrong-battery", ""} {
		_, err := DialRedis(ctx, RedisConn{URL: srv.URL, Password: pw, Timeout: time.Second})
		if err == nil {
			t.Fatalf("password %q accepted", pw)
		}
		if pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("the error repeats the password: %v", err)
		}
		if !strings.Contains(err.Error(), "does not answer") {
			t.Errorf("error %v does not say Redis did not answer", err)
		}
	}
}

// No two (holder, name) pairs share a Redis key, whatever bytes they hold: a run id is the client's
// to choose, and must not reach another holder's counter.
func FuzzRedisKeyNames(f *testing.F) {
	f.Add("run:t/a", "b", "run:t/a:b", "")
	f.Add("session:x", "budget:1:session", "session:x:budget", "1:session")
	f.Add("", ":", ":", "")
	r := NewRedis(nil, RedisOptions{})
	f.Fuzz(func(t *testing.T, h1, n1, h2, n2 string) {
		if h1 == h2 && n1 == n2 {
			return
		}
		k1, k2 := Key{Holder: h1, Name: n1}, Key{Holder: h2, Name: n2}
		if r.counterKey(k1) == r.counterKey(k2) || r.cellKey(k1) == r.cellKey(k2) || r.counterKey(k1) == r.cellKey(k2) {
			t.Fatalf("(%q, %q) and (%q, %q) share a key", h1, n1, h2, n2)
		}
		if h1 != h2 && r.holderKey(h1) == r.holderKey(h2) {
			t.Fatalf("holders %q and %q share an index", h1, h2)
		}
	})
}

// leastPrivilegeStore is a store whose Redis user has only the ACL docs/operations.md gives a
// gateway, with the default user off.
func leastPrivilegeStore(t *testing.T) *Redis {
	t.Helper()
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for line := range strings.Lines(string(doc)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ACL SETUSER gatehouse "); ok {
			rules = strings.Fields(strings.ReplaceAll(rest, ">PASSWORD", ">acl-test-pw"))
		}
	}
	if len(rules) == 0 {
		t.Fatal("docs/operations.md gives no ACL SETUSER gatehouse line")
	}
	srv := redistest.Start(t, append([]string{"--user", "default", "off", "--user", "gatehouse"}, rules...)...)
	rdb, err := DialRedis(context.Background(), RedisConn{URL: srv.URL, Username: "gatehouse", Password: "acl-test-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return NewRedis(rdb, RedisOptions{})
}

// The ACL docs/operations.md gives for a least-privileged gateway user is enough for every
// operation of the store, and the default user is off.
func TestRedisLeastPrivilegeACL(t *testing.T) {
	s := leastPrivilegeStore(t)
	ctx := context.Background()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, _, rel, err := s.Reserve(ctx, Key{Holder: "session:s", Name: "b", Owner: "a", Idle: time.Hour}, 1, 10, time.Hour)
	step("Reserve", err)
	if rel != nil {
		rel()
	}
	_, _, rel, err = s.Admit(ctx, Key{Holder: "session:s", Name: "r", Owner: "a"}, 1, time.Minute)
	step("Admit", err)
	if rel != nil {
		rel()
	}
	step("Kill", s.Kill(ctx, "session:s", "x"))
	_, _, err = s.Killed(ctx, "all", "session:s")
	step("Killed", err)
	_, err = s.Kills(ctx)
	step("Kills", err)
	_, err = s.Lift(ctx, "session:s")
	step("Lift", err)
	_, err = s.Keys(ctx)
	step("Keys", err)
	step("Forget", s.Forget(ctx, "session:s"))

	other := NewRedis(s.rdb, RedisOptions{Prefix: "elsewhere:"})
	if err := other.Kill(ctx, "all", "x"); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("a key outside gatehouse:*: %v, want NOPERM", err)
	}
}

// A key Redis expired (or evicted) while its entry in the index of all keys stayed starts again,
// rather than failing every later call; a holder that lives for good does not gather an entry in
// its index per window it ever used.
func TestRedisExpiredKeysAndIndexes(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	t.Cleanup(func() { rdb.Close() })
	clk := &clock{t: time.Now()}
	s := NewRedis(rdb, RedisOptions{Prefix: "gh:", Now: clk.now})
	ctx := context.Background()
	counter := Key{Holder: "run:t/r", Name: "b", Owner: "alice", Idle: time.Hour}
	cell := Key{Holder: "agent:alice", Name: "rate", Owner: "alice"}
	if _, ok, _, err := s.Reserve(ctx, counter, 7, 10, 0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _, _, err := s.Admit(ctx, cell, 1, time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	rdb.Del(ctx, s.counterKey(counter), s.cellKey(cell)) // as Redis's expiry or eviction would
	if total, ok, _, err := s.Reserve(ctx, counter, 5, 10, 0); !ok || total != 5 || err != nil {
		t.Errorf("a counter Redis dropped: total %v ok %v err %v, want a new counter of 5", total, ok, err)
	}
	if ok, _, _, err := s.Admit(ctx, cell, 1, time.Hour); !ok || err != nil {
		t.Errorf("a cell Redis dropped: ok %v err %v, want a new cell", ok, err)
	}

	windowed := Key{Holder: "tenant:t", Name: "w", Owner: "alice"}
	for range 50 {
		if _, ok, _, err := s.Reserve(ctx, windowed, 1, 10, time.Minute); !ok || err != nil {
			t.Fatal(ok, err)
		}
		clk.t = clk.t.Add(time.Minute)
	}
	if n := rdb.ZCard(ctx, s.holderKey("tenant:t")).Val(); n > 2 {
		t.Errorf("the holder's index kept %d entries after 50 windows, want the live ones", n)
	}
	if n := rdb.ZCard(ctx, "gh:o:alice").Val(); n > 4 {
		t.Errorf("the owner's index kept %d entries, want the live ones", n)
	}
}
