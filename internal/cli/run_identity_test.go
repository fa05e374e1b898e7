package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
)

// runKeys are the keys and tokens the run identity tests verify: an Ed25519 key pair on disk and an
// HMAC secret in a file, in the environment and for --secret.
type runKeys struct {
	pub, key   string // --pubkey file and the matching private key file
	secretFile string
	ed, hmac   string // valid tokens for agent refund-bot, roles support and refunds
	sign       func(scheme agenttoken.Scheme, edit func(*agenttoken.Claims)) string
}

func newRunKeys(t *testing.T) *runKeys {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "agents")
	if err := auditlog.WriteKeyPair(prefix+".key", prefix+".pub"); err != nil {
		t.Fatal(err)
	}
	priv, err := auditlog.ReadPrivateKeyFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	edSigner, err := agenttoken.NewEd25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	hmacSigner, err := agenttoken.NewHMACSigner([]byte(testAgentSecret))
	if err != nil {
		t.Fatal(err)
	}
	k := &runKeys{pub: prefix + ".pub", key: prefix + ".key", secretFile: writeSecret(t, testAgentSecret+"\n", 0o600)}
	k.sign = func(scheme agenttoken.Scheme, edit func(*agenttoken.Claims)) string {
		t.Helper()
		now := time.Now().UTC().Truncate(time.Second)
		c := agenttoken.Claims{AgentID: "refund-bot", Roles: []string{"support", "refunds"}, Tenant: "acme",
			IssuedAt: now, Expiry: now.Add(time.Hour)}
		if edit != nil {
			edit(&c)
		}
		signer := edSigner
		if scheme == agenttoken.SchemeHMAC {
			signer = hmacSigner
		}
		tok, err := agenttoken.Issue(c, signer)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	k.ed, k.hmac = k.sign(agenttoken.SchemeEd25519, nil), k.sign(agenttoken.SchemeHMAC, nil)
	return k
}

// TestRunIdentityAcceptsTokens: a valid token, by flag or environment, verified by each kind of key,
// becomes the identity of every call, and the start-up description names its scheme.
func TestRunIdentityAcceptsTokens(t *testing.T) {
	k := newRunKeys(t)
	tests := []struct {
		name       string
		params     runParams
		env        []string
		wantScheme string
		wantWarn   bool // the --secret warning
	}{
		{"ed25519 by flag", runParams{agentToken: k.ed, pubkey: k.pub}, nil, "ed25519", false},
		{"ed25519 by env", runParams{pubkey: k.pub}, []string{EnvAgentToken + "=" + k.ed}, "ed25519", false},
		{"flag wins over env", runParams{agentToken: k.ed, pubkey: k.pub}, []string{EnvAgentToken + "=not-a-token"}, "ed25519", false},
		{"hmac with a secret file", runParams{agentToken: k.hmac, secretFile: k.secretFile}, nil, "hmac", false},
		{"hmac with env secret and env token", runParams{}, []string{EnvAgentToken + "=" + k.hmac, EnvAgentSecret + "=" + testAgentSecret}, "hmac", false},
		{"hmac with an empty env secret and a file", runParams{agentToken: k.hmac, secretFile: k.secretFile}, []string{EnvAgentSecret + "="}, "hmac", false},
		{"hmac with --secret", runParams{agentToken: k.hmac, secret: testAgentSecret}, nil, "hmac", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			p := tt.params
			who, err := runIdentity(&p, &config.Config{}, tt.env, newLogger(&logs, "debug", "json"))
			if err != nil {
				t.Fatalf("runIdentity: %v", err)
			}
			if who.agent != "refund-bot" || !cmp.Equal(who.roles, []string{"support", "refunds"}) {
				t.Errorf("agent %q roles %v, want refund-bot [support refunds]", who.agent, who.roles)
			}
			if want := "token:" + tt.wantScheme + " (expires "; !strings.HasPrefix(who.describe, want) {
				t.Errorf("describe = %q, want it to start with %q", who.describe, want)
			}
			// The stage gives every call the token's principal, and continues the chain.
			c := &pipeline.Call{}
			called := false
			if err := who.stage.Handle(context.Background(), c, func(context.Context, *pipeline.Call) error { called = true; return nil }); err != nil {
				t.Fatal(err)
			}
			if !called || c.Input.Agent.ID != "refund-bot" || c.Input.Tenant != "acme" || c.Input.Agent.Claims["scheme"] != tt.wantScheme {
				t.Errorf("call after the stage: next called %v, agent %+v, tenant %q; want refund-bot of acme by %s",
					called, c.Input.Agent, c.Input.Tenant, tt.wantScheme)
			}
			warned := strings.Contains(logs.String(), `"level":"WARN"`) && strings.Contains(logs.String(), "process list")
			if warned != tt.wantWarn {
				t.Errorf("--secret warning logged = %v, want %v; log:\n%s", warned, tt.wantWarn, logs.String())
			}
			if strings.Contains(logs.String(), testAgentSecret) {
				t.Errorf("the log carries the secret:\n%s", logs.String())
			}
		})
	}
}

// TestRunIdentityLocal: without a token, --agent and --roles are the trusted local identity.
func TestRunIdentityLocal(t *testing.T) {
	cfg := &config.Config{Identity: config.IdentityConfig{Agent: "dev-bot", Roles: []string{"dev"}}}
	who, err := runIdentity(&runParams{}, cfg, []string{EnvAgentSecret + "=" + testAgentSecret}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if who.describe != "local" || who.agent != "dev-bot" || !cmp.Equal(who.roles, []string{"dev"}) {
		t.Errorf("got %q %q %v, want local dev-bot [dev]", who.describe, who.agent, who.roles)
	}
}

// TestRunIdentityRefusedAtStartUp runs `gatehouse run` in-process with tokens and keys that must
// stop it before the server starts or the audit log is opened: exit 2 with a message that says
// why, and never the secret.
func TestRunIdentityRefusedAtStartUp(t *testing.T) {
	k := newRunKeys(t)
	expired := k.sign(agenttoken.SchemeEd25519, func(c *agenttoken.Claims) {
		c.IssuedAt, c.Expiry = c.IssuedAt.Add(-2*time.Hour), c.IssuedAt.Add(-time.Hour)
	})
	notYet := k.sign(agenttoken.SchemeHMAC, func(c *agenttoken.Claims) {
		c.IssuedAt, c.Expiry = c.IssuedAt.Add(time.Hour), c.IssuedAt.Add(2*time.Hour)
	})
	parts := strings.Split(k.ed, ".")
	// The claims of another token under this token's signature: an edited claims part.
	tampered := parts[0] + "." + strings.Split(k.sign(agenttoken.SchemeEd25519, func(c *agenttoken.Claims) { c.Roles = []string{"admin"} }), ".")[1] + "." + parts[2]
	otherSecret := "fedcba9876543210fedcba9876543210"
	short := writeSecret(t, "too-short", 0o600)
	open := writeSecret(t, testAgentSecret, 0o644)

	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"expired", nil, []string{"--agent-token", expired, "--pubkey", k.pub}, "agent token refused: agent token expired at "},
		{"expired by env", []string{EnvAgentToken + "=" + expired}, []string{"--pubkey", k.pub}, "(token_expired)"},
		{"not yet valid", []string{EnvAgentToken + "=" + notYet, EnvAgentSecret + "=" + testAgentSecret}, nil, "(token_not_yet_valid)"},
		{"tampered claims", nil, []string{"--agent-token", tampered, "--pubkey", k.pub}, "(token_bad_signature)"},
		{"garbage", nil, []string{"--agent-token", "not-a-token", "--pubkey", k.pub}, "(token_malformed)"},
		{"hmac token, ed25519 key", nil, []string{"--agent-token", k.hmac, "--pubkey", k.pub}, "(token_wrong_scheme)"},
		{"ed25519 token, hmac secret file", nil, []string{"--agent-token", k.ed, "--secret-file", k.secretFile}, "(token_wrong_scheme)"},
		{"ed25519 token, --secret", nil, []string{"--agent-token", k.ed, "--secret", testAgentSecret}, "(token_wrong_scheme)"},
		{"hmac token, another secret", []string{EnvAgentSecret + "=" + otherSecret}, []string{"--agent-token", k.hmac}, "(token_bad_signature)"},
		{"hmac token, another --secret", nil, []string{"--agent-token", k.hmac, "--secret", otherSecret}, "(token_bad_signature)"},
		{"token without a key", nil, []string{"--agent-token", k.ed}, "an agent token needs a key to verify it: --pubkey FILE"},
		{"env token without a key", []string{EnvAgentToken + "=" + k.ed}, nil, "an agent token needs a key to verify it"},
		{"pubkey without a token", nil, []string{"--pubkey", k.pub}, "give one with $" + EnvAgentToken},
		{"--secret without a token", nil, []string{"--secret", testAgentSecret}, "give one with $" + EnvAgentToken},
		{"token and --agent", nil, []string{"--agent-token", k.ed, "--pubkey", k.pub, "--agent", "x"}, "do not also give --agent or --roles"},
		{"token and --roles", nil, []string{"--agent-token", k.ed, "--pubkey", k.pub, "--roles", "admin"}, "do not also give --agent or --roles"},
		{"token and GATEHOUSE_ROLES", []string{"GATEHOUSE_ROLES=admin"}, []string{"--agent-token", k.ed, "--pubkey", k.pub}, "do not also give --agent or --roles"},
		{"pubkey and secret file", nil, []string{"--agent-token", k.ed, "--pubkey", k.pub, "--secret-file", k.secretFile}, "give one verification key: --pubkey (ed25519) or --secret-file (hmac)"},
		{"pubkey and env secret", []string{EnvAgentSecret + "=" + testAgentSecret}, []string{"--agent-token", k.ed, "--pubkey", k.pub}, "or $" + EnvAgentSecret + " (hmac), not both"},
		{"secret file and env secret", []string{EnvAgentSecret + "=" + testAgentSecret}, []string{"--agent-token", k.hmac, "--secret-file", k.secretFile}, "given by --secret-file and $" + EnvAgentSecret + ": give it one way only"},
		{"--secret and secret file", nil, []string{"--agent-token", k.hmac, "--secret-file", k.secretFile, "--secret", testAgentSecret}, "given by --secret-file and --secret"},
		{"--secret too short", nil, []string{"--agent-token", k.hmac, "--secret", "too-short"}, "--secret: agent token: the HMAC secret is 9 bytes, want at least 32"},
		{"env secret too short", []string{EnvAgentSecret + "=too-short"}, []string{"--agent-token", k.hmac}, "$" + EnvAgentSecret + ": agent token: the HMAC secret is 9 bytes"},
		{"secret file too short", nil, []string{"--agent-token", k.hmac, "--secret-file", short}, "--secret-file: "},
		{"secret file readable by others", nil, []string{"--agent-token", k.hmac, "--secret-file", open}, "chmod 600"},
		{"private key as pubkey", nil, []string{"--agent-token", k.ed, "--pubkey", k.key}, "--pubkey: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audit := filepath.Join(t.TempDir(), "audit.jsonl")
			args := append(append([]string{"run", "--mode", "off", "--audit", audit}, tt.args...), "--", "testpeer-never-started")
			code, out, errOut := gatehouseEnv(t, tt.env, args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, ExitUsage, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q: want nothing on the MCP channel", out)
			}
			for _, secret := range []string{testAgentSecret, otherSecret} {
				if strings.Contains(errOut, secret) {
					t.Errorf("stderr carries a secret: %q", errOut)
				}
			}
			if _, err := os.Stat(audit); !os.IsNotExist(err) {
				t.Errorf("the audit log was opened before the identity was checked (stat: %v)", err)
			}
		})
	}
}

// TestRunSecretFlagWarns: --secret works, but gatehouse says at WARN, before anything else can fail,
// that a secret on the command line is visible to other users; the warning never quotes it.
func TestRunSecretFlagWarns(t *testing.T) {
	k := newRunKeys(t)
	expired := k.sign(agenttoken.SchemeHMAC, func(c *agenttoken.Claims) {
		c.IssuedAt, c.Expiry = c.IssuedAt.Add(-2*time.Hour), c.IssuedAt.Add(-time.Hour)
	})
	code, _, errOut := gatehouseEnv(t, nil, "run", "--mode", "off", "--audit", filepath.Join(t.TempDir(), "a.jsonl"),
		"--agent-token", expired, "--secret", testAgentSecret, "--", "testpeer-never-started")
	if code != ExitUsage || !strings.Contains(errOut, "(token_expired)") {
		t.Fatalf("exit %d, stderr %q; want exit %d, token_expired", code, errOut, ExitUsage)
	}
	var warn string
	for _, line := range strings.Split(errOut, "\n") {
		if strings.Contains(line, `"level":"WARN"`) {
			warn = line
		}
	}
	for _, want := range []string{"--secret", "process list", "--secret-file", "$" + EnvAgentSecret} {
		if !strings.Contains(warn, want) {
			t.Errorf("WARN line %q does not mention %q", warn, want)
		}
	}
	if strings.Contains(errOut, testAgentSecret) {
		t.Errorf("stderr carries the secret:\n%s", errOut)
	}
}
