package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
)

// gatehouseEnv runs the CLI in-process with an environment.
func gatehouseEnv(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, streams{in: strings.NewReader(""), out: &out, err: &errb, env: env})
	return code, out.String(), errb.String()
}

// writeSecret writes an HMAC secret file with the given mode.
func writeSecret(t *testing.T, secret string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.secret")
	if err := os.WriteFile(p, []byte(secret), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const testAgentSecret = "0123456789abcdef0123456789abcdef"

func TestTokenIssuesVerifiableTokens(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "agents")
	if err := auditlog.WriteKeyPair(prefix+".key", prefix+".pub"); err != nil {
		t.Fatal(err)
	}
	pub, err := auditlog.ReadPublicKeyFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	edVerifier, _ := agenttoken.NewEd25519Verifier(pub)
	hmacVerifier, _ := agenttoken.NewHMACVerifier([]byte(testAgentSecret))
	secretFile := writeSecret(t, testAgentSecret+"\n", 0o600)

	tests := []struct {
		name string
		env  []string
		args []string
		v    *agenttoken.Verifier
	}{
		{"ed25519", nil, []string{"--scheme", "ed25519", "--key", prefix + ".key"}, edVerifier},
		{"hmac from a file", nil, []string{"--scheme", "hmac", "--secret-file", secretFile}, hmacVerifier},
		{"hmac from the environment", []string{EnvAgentSecret + "=" + testAgentSecret}, []string{"--scheme", "hmac"}, hmacVerifier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			args := append([]string{"token", "--agent-id", "refund-bot", "--role", "support", "--role", "refunds", "--tenant", "acme", "--ttl", "2h"}, tt.args...)
			code, out, errOut := gatehouseEnv(t, tt.env, args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || strings.Count(out, ".") != 2 || errOut != "" {
				t.Errorf("stdout %q, stderr %q: want exactly one token line and nothing else", out, errOut)
			}
			c, err := tt.v.Verify(strings.TrimSpace(out), time.Now())
			if err != nil {
				t.Fatalf("the printed token does not verify: %v", err)
			}
			if c.AgentID != "refund-bot" || !cmp.Equal(c.Roles, []string{"support", "refunds"}) || c.Tenant != "acme" || c.ID == "" {
				t.Errorf("claims = %+v", c)
			}
			if c.IssuedAt.Before(before) || c.Expiry.Sub(c.IssuedAt) != 2*time.Hour {
				t.Errorf("issued %v, expires %v; want now and 2h later", c.IssuedAt, c.Expiry)
			}
		})
	}
}

func TestTokenUsageErrors(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "agents")
	if err := auditlog.WriteKeyPair(prefix+".key", prefix+".pub"); err != nil {
		t.Fatal(err)
	}
	good := writeSecret(t, testAgentSecret, 0o600)
	short := writeSecret(t, "too-short", 0o600)
	open := writeSecret(t, testAgentSecret, 0o644)
	base := []string{"token", "--agent-id", "a"}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no scheme", nil, base, "unknown token scheme"},
		{"unknown scheme", nil, append(base, "--scheme", "none"), `unknown token scheme "none"`},
		{"no agent", nil, []string{"token", "--scheme", "hmac", "--secret-file", good}, "--agent-id"},
		{"hmac without a secret", nil, append(base, "--scheme", "hmac"), "--secret-file FILE or $" + EnvAgentSecret},
		{"hmac with a key", nil, append(base, "--scheme", "hmac", "--key", prefix+".key"), "--key is for --scheme ed25519"},
		{"hmac secret too short", nil, append(base, "--scheme", "hmac", "--secret-file", short), "at least 32"},
		{"hmac env secret too short", []string{EnvAgentSecret + "=short"}, append(base, "--scheme", "hmac"), "$" + EnvAgentSecret},
		{"hmac secret readable by others", nil, append(base, "--scheme", "hmac", "--secret-file", open), "chmod 600"},
		{"ed25519 without a key", nil, append(base, "--scheme", "ed25519"), "--key FILE"},
		{"ed25519 with a secret file", nil, append(base, "--scheme", "ed25519", "--key", prefix+".key", "--secret-file", good), "--secret-file is for --scheme hmac"},
		{"ed25519 with the public key", nil, append(base, "--scheme", "ed25519", "--key", prefix+".pub"), "private key"},
		{"zero ttl", nil, append(base, "--scheme", "hmac", "--secret-file", good, "--ttl", "0s"), "--ttl must be positive"},
		{"control character in a role", nil, append(base, "--scheme", "hmac", "--secret-file", good, "--role", "ad\x1bmin"), "control or format character"},
		{"positional argument", nil, append(base, "--scheme", "hmac", "--secret-file", good, "extra"), "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := gatehouseEnv(t, tt.env, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, ExitUsage, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing on failure", out)
			}
		})
	}
}

func TestEnvLookup(t *testing.T) {
	env := []string{"A=1", "B=x=y", "A=2", "C"}
	for _, tt := range []struct {
		name, want string
		ok         bool
	}{{"A", "2", true}, {"B", "x=y", true}, {"C", "", false}, {"D", "", false}} {
		if got, ok := envLookup(env, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("envLookup(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
