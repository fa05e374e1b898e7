package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/testpeer/redistest"
)

// openStore with a Redis that requires a password: each way of giving it, and each way of getting
// it wrong, with an error that never repeats it.
func TestOpenStoreRedisPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret-redis-pw")
	dir := t.TempDir()
	file := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), perm)
		os.Chmod(p, perm)
		return p
	}
	good, open := file("good", "s3cret-redis-pw\n", 0o600), file("open", "s3cret-redis-pw", 0o644)
	wrong, empty := file("wrong", "not-it", 0o600), file("empty", "\n", 0o600)
	env := map[string]string{"PW": "s3cret-redis-pw", "WRONG": "not-it"}
	for _, tc := range []struct {
		name string
		r    config.RedisConfig
		err  string
	}{
		{"env", config.RedisConfig{PasswordEnv: "PW"}, ""},
		{"file", config.RedisConfig{PasswordFile: good}, ""},
		{"no password", config.RedisConfig{}, "does not answer"},
		{"wrong env", config.RedisConfig{PasswordEnv: "WRONG"}, "does not answer"},
		{"unset env", config.RedisConfig{PasswordEnv: "UNSET"}, "$UNSET is not set"},
		{"wrong file", config.RedisConfig{PasswordFile: wrong}, "does not answer"},
		{"file others can read", config.RedisConfig{PasswordFile: open}, "must not be accessible by group or others"},
		{"empty file", config.RedisConfig{PasswordFile: empty}, "is empty"},
		{"missing file", config.RedisConfig{PasswordFile: filepath.Join(dir, "none")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default().State
			tc.r.URL, tc.r.Prefix, tc.r.Timeout = srv.URL, "t:", c.Redis.Timeout
			c.Redis = tc.r
			reg := prometheus.NewRegistry()
			store, closeStore, err := openStore(context.Background(), c, func(k string) string { return env[k] }, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret-redis-pw") {
					t.Errorf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			if _, ok := store.(*state.Redis); !ok {
				t.Fatalf("store is %T, want *state.Redis", store)
			}
			store.Reserve(context.Background(), state.Key{Holder: "agent:a", Name: "b"}, 1, 10, 0)
			if n := stateKeys(t, reg); n != 1 {
				t.Errorf("gatehouse_state_keys = %v, want 1", n)
			}
		})
	}
}

// stateKeys returns the value of gatehouse_state_keys, the one metric in reg.
func stateKeys(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "gatehouse_state_keys" {
		t.Fatalf("registry: %v %v", mfs, err)
	}
	return mfs[0].GetMetric()[0].GetGauge().GetValue()
}
