package cli

import (
	"context"
	"log/slog"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
)

// openStore returns the state store the configuration asks for: one kept in Redis when
// state.redis.url is set (it must answer now: a gateway that cannot reach its shared state does not
// start), else one in this process's memory. close releases it. The gauge gatehouse_state_keys
// reports its size in reg, if any.
func openStore(ctx context.Context, c config.StateConfig, getenv func(string) string, reg prometheus.Registerer, logger *slog.Logger) (store state.Store, close func(), err error) {
	var keys func(context.Context) (int, error)
	close = func() {}
	if c.Redis.URL == "" {
		m := state.NewMemoryBounded(nil, c.MaxKeys, c.MaxKeysPerCaller)
		store, keys = m, m.Keys
	} else {
		state.LogRedisTo(logger)
		password, err := redisPassword(c.Redis, getenv)
		if err != nil {
			return nil, nil, err
		}
		rdb, err := state.DialRedis(ctx, state.RedisConn{URL: c.Redis.URL, Username: c.Redis.Username,
			Password: password, Timeout: c.Redis.Timeout.D()})
		if err != nil {
			return nil, nil, err
		}
		r := state.NewRedis(rdb, state.RedisOptions{Prefix: c.Redis.Prefix, MaxKeys: c.MaxKeys,
			MaxKeysPerCaller: c.MaxKeysPerCaller, Logger: logger})
		if _, err := r.Keys(ctx); err != nil { // Redis runs the store's scripts (an ACL may not allow them)
			rdb.Close()
			return nil, nil, err
		}
		logger.Info("budgets, rate limits and kills are kept in Redis, shared with every gateway using it", "prefix", c.Redis.Prefix)
		store, keys, close = r, r.Keys, func() { rdb.Close() }
	}
	if reg == nil { // gatehouse run has no metrics
		return store, close, nil
	}
	help := "Budget counters and rate-limit cells kept (bounded by state.max_keys)."
	if c.Redis.URL != "" {
		help = "Budget counters and rate-limit cells kept in Redis by every gateway sharing it (bounded by state.max_keys); NaN when Redis does not answer."
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_state_keys", Help: help}, func() float64 {
		n, err := keys(context.Background())
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
	return store, close, nil
}

// redisPassword reads state.redis.password_env or password_file (no trailing white space). The file
// must not be readable by group or others.
func redisPassword(c config.RedisConfig, getenv func(string) string) (string, error) {
	p, err := readSecret("state.redis.password", c.PasswordEnv, c.PasswordFile, "password file", getenv)
	return string(p), err
}
