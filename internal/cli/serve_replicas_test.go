package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
)

func TestReplicasFromConfig(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "replica.key")
	const key = "a key both replicas share, 32+ bytes"
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	env := map[string]string{"KEY": key + "\n", "SHORT": "too short"}
	getenv := func(k string) string { return env[k] }
	peers := map[string]string{"a": "http://a:8080", "b": "https://b:8443"}

	if r, err := replicas(&config.ReplicasConfig{}, getenv); r != nil || err != nil {
		t.Errorf("no name: %v, %v; want no routing", r, err)
	}
	fromFile, err := replicas(&config.ReplicasConfig{Name: "a", Peers: peers, KeyFile: keyFile}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	fromEnv, err := replicas(&config.ReplicasConfig{Name: "b", Peers: peers, KeyEnv: "KEY"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if string(fromFile.Key) != key || string(fromEnv.Key) != key {
		t.Errorf("keys %q and %q, want both %q: replicas reading it two ways must agree", fromFile.Key, fromEnv.Key, key)
	}
	if fromEnv.Peers["b"].String() != "https://b:8443" || fromEnv.Transport == nil {
		t.Errorf("peers %v, transport %v", fromEnv.Peers, fromEnv.Transport)
	}
	for _, c := range []struct {
		cfg  config.ReplicasConfig
		want string
	}{
		{config.ReplicasConfig{Name: "a", Peers: peers, KeyEnv: "SHORT"}, "needs at least 32"},
		{config.ReplicasConfig{Name: "a", Peers: peers, KeyEnv: "UNSET"}, "$UNSET is not set"},
		{config.ReplicasConfig{Name: "a", Peers: peers, KeyFile: filepath.Join(dir, "missing")}, "replicas.key_file"},
		{config.ReplicasConfig{Name: "a", Peers: peers, KeyEnv: "KEY", CAFile: keyFile}, "replicas.ca_file"},
	} {
		if _, err := replicas(&c.cfg, getenv); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
