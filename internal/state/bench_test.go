package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkStores measures what one call's state costs: a budget reservation, a rate-limit slot, and
// the kill check every call makes, in memory and in a real redis-server on a Unix socket on the same
// machine (over TCP to another host, add the network's round trip to each).
func BenchmarkStores(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket})
	b.Cleanup(func() { rdb.Close() })
	stores := []struct {
		name string
		s    Store
	}{{"memory", NewMemory(nil)}, {"redis", NewRedis(rdb, RedisOptions{})}}
	ctx := context.Background()
	for _, st := range stores {
		b.Run(st.name+"/Reserve", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				k := Key{Holder: fmt.Sprint("session:", i%1000), Name: "budget:refunds:session", Owner: "a", Idle: time.Hour}
				if _, _, rel, err := st.s.Reserve(ctx, k, 1, 1e12, 0); err != nil {
					b.Fatal(err)
				} else if rel == nil {
					b.Fatal("refused")
				}
			}
		})
		b.Run(st.name+"/Admit", func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := st.s.Admit(ctx, Key{Holder: "tool:echo", Name: "rate", Owner: "a"}, 1_000_000, time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/Killed", func(b *testing.B) {
			st.s.Kill(ctx, "agent:someone-else", "x") // one kill in force, not this call's
			for b.Loop() {
				if scope, _, err := st.s.Killed(ctx, "all", "tenant:t", "agent:a", "session:s"); err != nil || scope != "" {
					b.Fatal(scope, err)
				}
			}
		})
	}
}
