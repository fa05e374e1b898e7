package state

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store kept in Redis, shared by every gatehouse process that names the same Redis and
// prefix (SPEC §11.1): a budget spent, a rate slot taken or a scope killed through one replica holds
// on all of them, and outlives a restart. Every operation is one Lua script, so each check-and-add
// is atomic across replicas.
//
// Times are the gateway's clock (the replicas' clocks must agree, as NTP keeps them); Redis's own
// expiry only frees the memory of what is gone, a minute after. The scripts touch keys they derive
// from the prefix, so the store needs one Redis server (with replicas or Sentinel for availability),
// not Redis Cluster.
type Redis struct {
	rdb       redis.Cmdable
	prefix    string
	now       func() time.Time
	maxKeys   int
	maxPerOwn int
	logger    *slog.Logger
}

// RedisOptions tunes a Redis store. Zero values take the defaults.
type RedisOptions struct {
	// Prefix begins the name of every key the store keeps ("gatehouse:").
	Prefix string
	// MaxKeys and MaxKeysPerCaller bound the counters and cells kept, as for NewMemoryBounded, across
	// every replica together.
	MaxKeys, MaxKeysPerCaller int
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger reports a Release that could not reach Redis (slog.Default()).
	Logger *slog.Logger
}

// DefaultRedisPrefix begins the names of a Redis store's keys unless state.redis.prefix says else.
const DefaultRedisPrefix = "gatehouse:"

var _ Store = (*Redis)(nil)

// NewRedis returns a store kept in the Redis rdb reaches.
func NewRedis(rdb redis.Cmdable, o RedisOptions) *Redis {
	r := &Redis{rdb: rdb, prefix: o.Prefix, now: o.Now, maxKeys: o.MaxKeys,
		maxPerOwn: o.MaxKeysPerCaller, logger: o.Logger}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxKeys <= 0 {
		r.maxKeys = DefaultMaxKeys
	}
	if r.maxPerOwn <= 0 {
		r.maxPerOwn = DefaultMaxKeysPerCaller
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r
}

//go:embed lua/*.lua
var luaFiles embed.FS

// script is one of lua/*.lua with lua/common.lua before it.
func script(name string) *redis.Script {
	common, err1 := luaFiles.ReadFile("lua/common.lua")
	body, err2 := luaFiles.ReadFile("lua/" + name + ".lua")
	if err := errors.Join(err1, err2); err != nil {
		panic(err)
	}
	return redis.NewScript(string(common) + "\n" + string(body))
}

var (
	reserveScript   = script("reserve")
	unreserveScript = script("unreserve")
	admitScript     = script("admit")
	unadmitScript   = script("unadmit")
	forgetScript    = script("forget")
	killScript      = script("kill")
	keysScript      = script("keys")
)

// The names of the keys. A counter's or cell's name carries its holder's length, so that no two
// (holder, name) pairs share a key whatever bytes they hold.
func (r *Redis) counterKey(k Key) string { return r.keyOf("c:", k) }
func (r *Redis) cellKey(k Key) string    { return r.keyOf("r:", k) }
func (r *Redis) keyOf(kind string, k Key) string {
	return r.prefix + kind + strconv.Itoa(len(k.Holder)) + ":" + k.Holder + ":" + k.Name
}
func (r *Redis) holderKey(holder string) string { return r.prefix + "h:" + holder }
func (r *Redis) allKey() string                 { return r.prefix + "keys" }
func (r *Redis) killsKey() string               { return r.prefix + "kills" }

// run runs s with the common arguments (now, prefix) before args.
func (r *Redis) run(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	return r.runAt(ctx, r.now(), s, keys, args...)
}

// runAt is run at a time the caller read from the clock (to decide a window by it, say).
func (r *Redis) runAt(ctx context.Context, now time.Time, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	return s.Run(ctx, r.rdb, keys, append([]any{now.UnixMicro(), r.prefix}, args...)...)
}

func float(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// refusal turns a script's 'full' or 'caller_full' into the store's errors.
func (r *Redis) refusal(verdict string) error {
	switch verdict {
	case "full":
		return fmt.Errorf("%w: %d counters and rate cells live (state.max_keys)", ErrFull, r.maxKeys)
	case "caller_full":
		return fmt.Errorf("%w: its calls made %d counters and rate cells (state.max_keys_per_caller)", ErrCallerFull, r.maxPerOwn)
	}
	return fmt.Errorf("redis state: unexpected answer %q", verdict)
}

// Reserve implements Store.
func (r *Redis) Reserve(ctx context.Context, k Key, amount, limit float64, window time.Duration) (float64, bool, Release, error) {
	now := r.now()
	var ends int64
	if window > 0 {
		start := now.Truncate(window)
		k.Name += "@" + start.UTC().Format(time.RFC3339Nano)
		ends = start.Add(window).UnixMicro()
	}
	key := r.counterKey(k)
	reply, err := r.runAt(ctx, now, reserveScript, []string{key, r.allKey(), r.holderKey(k.Holder)},
		float(amount), float(limit), ends, k.Idle.Microseconds(), k.Owner, r.maxKeys, r.maxPerOwn).StringSlice()
	if err != nil {
		return 0, false, nil, fmt.Errorf("redis state: %w", err)
	}
	if len(reply) != 2 {
		return 0, false, nil, r.refusal(strings.Join(reply, " "))
	}
	total, err := strconv.ParseFloat(reply[1], 64)
	if err != nil {
		return 0, false, nil, fmt.Errorf("redis state: a counter's total %q: %w", reply[1], err)
	}
	if reply[0] != "ok" {
		return total, false, nil, nil
	}
	return total, true, r.release(unreserveScript, key, float(amount)), nil
}

// release returns a Release running s on key once.
func (r *Redis) release(s *redis.Script, key string, arg any) Release {
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.run(ctx, s, []string{key}, arg).Err(); err != nil {
				r.logger.Error("redis state: a reservation could not be given back; it stays counted", "error", err)
			}
		})
	}
}

// Admit implements Store.
func (r *Redis) Admit(ctx context.Context, k Key, limit int, per time.Duration) (bool, time.Duration, Release, error) {
	interval := per / time.Duration(limit)
	if interval < time.Microsecond {
		// The cells count in microseconds; configurations are validated to stay above this.
		return false, 0, nil, fmt.Errorf("redis state: a rate of %d per %s is more than one call per microsecond", limit, per)
	}
	key := r.cellKey(k)
	reply, err := r.run(ctx, admitScript, []string{key, r.allKey(), r.holderKey(k.Holder)},
		interval.Microseconds(), per.Microseconds(), k.Owner, r.maxKeys, r.maxPerOwn).StringSlice()
	if err != nil {
		return false, 0, nil, fmt.Errorf("redis state: %w", err)
	}
	switch {
	case len(reply) == 1 && reply[0] == "ok":
		return true, 0, r.release(unadmitScript, key, interval.Microseconds()), nil
	case len(reply) == 2 && reply[0] == "no":
		us, err := strconv.ParseInt(reply[1], 10, 64)
		if err != nil {
			return false, 0, nil, fmt.Errorf("redis state: a retry time %q: %w", reply[1], err)
		}
		return false, time.Duration(us) * time.Microsecond, nil, nil
	}
	return false, 0, nil, r.refusal(strings.Join(reply, " "))
}

// Forget implements Store.
func (r *Redis) Forget(ctx context.Context, holder string) error {
	if err := r.run(ctx, forgetScript, []string{r.holderKey(holder), r.allKey(), r.killsKey()}, holder).Err(); err != nil {
		return fmt.Errorf("redis state: %w", err)
	}
	return nil
}

// Kill implements Store.
func (r *Redis) Kill(ctx context.Context, scope, reason string) error {
	if err := r.run(ctx, killScript, []string{r.killsKey()}, scope, reason).Err(); err != nil {
		return fmt.Errorf("redis state: %w", err)
	}
	return nil
}

// Lift implements Store.
func (r *Redis) Lift(ctx context.Context, scope string) (bool, error) {
	n, err := r.rdb.HDel(ctx, r.killsKey(), scope).Result()
	if err != nil {
		return false, fmt.Errorf("redis state: %w", err)
	}
	return n > 0, nil
}

// Killed implements Store.
func (r *Redis) Killed(ctx context.Context, scopes ...string) (string, string, error) {
	if len(scopes) == 0 {
		return "", "", nil
	}
	vals, err := r.rdb.HMGet(ctx, r.killsKey(), scopes...).Result()
	if err != nil {
		return "", "", fmt.Errorf("redis state: %w", err)
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			k, err := parseKill(scopes[i], s)
			if err != nil {
				return "", "", err
			}
			return k.Scope, k.Reason, nil
		}
	}
	return "", "", nil
}

// Kills implements Store.
func (r *Redis) Kills(ctx context.Context) ([]Kill, error) {
	all, err := r.rdb.HGetAll(ctx, r.killsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("redis state: %w", err)
	}
	out := make([]Kill, 0, len(all))
	for scope, v := range all {
		k, err := parseKill(scope, v)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	slices.SortFunc(out, byTime)
	return out, nil
}

// parseKill reads a kill as kill.lua keeps it: "<since, µs> <reason>".
func parseKill(scope, v string) (Kill, error) {
	since, reason, ok := strings.Cut(v, " ")
	us, err := strconv.ParseInt(since, 10, 64)
	if !ok || err != nil {
		return Kill{}, fmt.Errorf("redis state: the kill of %q is not one gatehouse wrote", scope)
	}
	return Kill{Scope: scope, Reason: reason, Since: time.UnixMicro(us)}, nil
}

// Keys returns the number of counters and cells kept, not yet gone, across every replica.
func (r *Redis) Keys(ctx context.Context) (int, error) {
	n, err := r.run(ctx, keysScript, []string{r.allKey()}).Int()
	if err != nil {
		return 0, fmt.Errorf("redis state: %w", err)
	}
	return n, nil
}
