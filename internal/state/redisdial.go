package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisConn is how to reach the Redis of a shared store (state.redis in the configuration).
type RedisConn struct {
	// URL is redis://host:port/db, rediss://host:port/db (TLS, verified against the system's roots)
	// or unix:///path/to/redis.sock?db=N. It must not hold a password.
	URL string
	// Username and Password authenticate (Redis ACL; a password alone for requirepass).
	Username, Password string
	// Timeout bounds connecting and each command (250ms).
	Timeout time.Duration
}

// DefaultRedisTimeout bounds connecting to Redis and each command unless state.redis.timeout says
// else: a call waits at most this long for its state before the fail posture decides.
const DefaultRedisTimeout = 250 * time.Millisecond

// CheckRedisURL reports what is wrong with a state.redis.url, never repeating the URL (it may hold
// a secret) in its error.
func CheckRedisURL(raw string) error {
	_, err := redisOptions(raw)
	return err
}

func redisOptions(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return nil, errors.New("must begin redis://, rediss:// or unix://")
	}
	if _, ok := u.User.Password(); ok {
		return nil, errors.New("must not hold a password: give it by state.redis.password_env or state.redis.password_file")
	}
	q := u.Query()
	for _, p := range []string{"password", "skip_verify"} {
		if q.Has(p) {
			return nil, fmt.Errorf("must not set %s", p)
		}
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// redisLog carries go-redis's own messages (a failed dial, a dropped connection) to gatehouse's log,
// at WARN.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// LogRedisTo sends go-redis's own messages to logger (they go to stderr, unstructured, otherwise).
// go-redis has one logger per process.
func LogRedisTo(logger *slog.Logger) { redis.SetLogger(redisLog{logger}) }

// DialRedis returns a client of the Redis c names, once it has answered a PING.
func DialRedis(ctx context.Context, c RedisConn) (*redis.Client, error) {
	o, err := redisOptions(c.URL)
	if err != nil {
		return nil, fmt.Errorf("state.redis.url %w", err)
	}
	if c.Username != "" {
		o.Username = c.Username
	}
	o.Password = c.Password
	t := c.Timeout
	if t <= 0 {
		t = DefaultRedisTimeout
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = t, t, t
	o.ContextTimeoutEnabled = true
	// One retry, for a pooled connection Redis closed (a restart). A retried Reserve whose first
	// answer was lost may count twice: the safe way to be wrong.
	o.MaxRetries = 1
	// A dial that fails fails the command: no retries the caller waits out (go-redis tries 5 times).
	o.DialerRetries, o.DialerRetryTimeout = 1, 10*time.Millisecond
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	rdb := redis.NewClient(o)
	pctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s %s does not answer: %w", o.Network, o.Addr, err) // never the URL: it may hold credentials
	}
	return rdb, nil
}
