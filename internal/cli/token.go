package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
)

// EnvAgentSecret is the environment variable that holds the HMAC secret of agent tokens when no
// secret file is given. An environment variable keeps the secret out of argv (visible to every user
// in ps) and out of shell history; a flag value would not.
const EnvAgentSecret = "GATEHOUSE_AGENT_SECRET"

// tokenParams are the inputs of `gatehouse token`.
type tokenParams struct {
	scheme     string
	agentID    string
	roles      []string
	tenant     string
	ttl        time.Duration
	secretFile string
	keyFile    string
}

func newTokenCommand(s streams) *cobra.Command {
	p := &tokenParams{}
	cmd := &cobra.Command{
		Use:   "token --scheme hmac|ed25519 --agent-id ID [--role R]... [--ttl D] [--tenant T] (--secret-file F | --key FILE)",
		Short: "Issue a signed agent token",
		Long: `token issues an agent token: a compact JWS (JWT, typ gatehouse-agent+jwt) naming the agent, its
roles, an optional tenant, when it was issued and when it expires, signed by one scheme. It prints
the token on stdout and nothing else, so it can be captured with $(...).

Schemes:
  hmac     HMAC-SHA256 (HS256) over a shared secret of at least 32 bytes, read from --secret-file
           (mode 0600) or, without it, from the GATEHOUSE_AGENT_SECRET environment variable. Never
           pass a secret as a flag value: it would be visible in ps and in shell history. Whoever
           holds the secret can mint tokens, gatehouse included.
  ed25519  Ed25519 (EdDSA), signed with the private key from 'gatehouse keygen' (--key). gatehouse
           is given only the public key (--pubkey), so it can verify tokens but never mint them.

A gatehouse accepts tokens of exactly one scheme and refuses any other (no downgrade).

Exit status: 0 token printed, 2 bad usage or an unreadable or unacceptable key or secret.`,
		Example: `  # Ed25519: the issuer keeps agents.key, gatehouse gets agents.pub
  gatehouse keygen --out agents
  gatehouse token --scheme ed25519 --key agents.key --agent-id refund-bot --role support --ttl 8h

  # HMAC: a shared secret in a file only its owner can read
  (umask 077; openssl rand -hex 32 > agent.secret)
  export GATEHOUSE_AGENT_TOKEN=$(gatehouse token --scheme hmac --secret-file agent.secret \
    --agent-id refund-bot --role support --role refunds --tenant acme)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runToken(p, s, time.Now())
		},
	}
	cmd.Flags().StringVar(&p.scheme, "scheme", "", "hmac or ed25519")
	cmd.Flags().StringVar(&p.agentID, "agent-id", "", "the agent the token names (rules: agents, agent.id)")
	cmd.Flags().StringArrayVar(&p.roles, "role", nil, "a role of the agent (repeatable; rules: require_roles)")
	cmd.Flags().StringVar(&p.tenant, "tenant", "", "the tenant the agent works for (optional)")
	cmd.Flags().DurationVar(&p.ttl, "ttl", time.Hour, "how long the token is valid")
	cmd.Flags().StringVar(&p.secretFile, "secret-file", "", "hmac: file holding the shared secret (default: $"+EnvAgentSecret+")")
	cmd.Flags().StringVar(&p.keyFile, "key", "", "ed25519: private key file from gatehouse keygen")
	return cmd
}

func runToken(p *tokenParams, s streams, now time.Time) error {
	scheme, err := agenttoken.ParseScheme(p.scheme)
	if err != nil {
		return fail(ExitUsage, "--scheme: %v", err)
	}
	if p.agentID == "" {
		return fail(ExitUsage, "give the agent the token names with --agent-id ID")
	}
	if p.ttl <= 0 {
		return fail(ExitUsage, "--ttl must be positive, got %v", p.ttl)
	}
	signer, err := tokenSigner(scheme, p, s)
	if err != nil {
		return err
	}
	now = now.UTC().Truncate(time.Second)
	tok, err := agenttoken.Issue(agenttoken.Claims{
		AgentID:  p.agentID,
		Roles:    p.roles,
		Tenant:   p.tenant,
		IssuedAt: now,
		Expiry:   now.Add(p.ttl),
	}, signer)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	fmt.Fprintln(s.out, tok)
	return nil
}

// tokenSigner reads the key of the scheme from where the flags say.
func tokenSigner(scheme agenttoken.Scheme, p *tokenParams, s streams) (*agenttoken.Signer, error) {
	switch scheme {
	case agenttoken.SchemeHMAC:
		if p.keyFile != "" {
			return nil, fail(ExitUsage, "--key is for --scheme ed25519; an hmac token is signed with --secret-file or $%s", EnvAgentSecret)
		}
		var secret []byte
		var err error
		if p.secretFile != "" {
			secret, err = agenttoken.ReadSecretFile(p.secretFile)
		} else if v, ok := envLookup(s.env, EnvAgentSecret); ok {
			secret, err = agenttoken.ParseSecret([]byte(v))
			if err != nil {
				err = fmt.Errorf("$%s: %w", EnvAgentSecret, err)
			}
		} else {
			return nil, fail(ExitUsage, "an hmac token needs the shared secret: --secret-file FILE or $%s", EnvAgentSecret)
		}
		if err != nil {
			return nil, fail(ExitUsage, "%v", err)
		}
		signer, err := agenttoken.NewHMACSigner(secret)
		if err != nil {
			return nil, fail(ExitUsage, "%v", err)
		}
		return signer, nil
	default:
		if p.secretFile != "" {
			return nil, fail(ExitUsage, "--secret-file is for --scheme hmac; an ed25519 token is signed with --key")
		}
		if p.keyFile == "" {
			return nil, fail(ExitUsage, "an ed25519 token needs the private key: --key FILE (from gatehouse keygen)")
		}
		priv, err := auditlog.ReadPrivateKeyFile(p.keyFile)
		if err != nil {
			return nil, fail(ExitUsage, "private key: %v", err)
		}
		signer, err := agenttoken.NewEd25519Signer(priv)
		if err != nil {
			return nil, fail(ExitUsage, "%v", err)
		}
		return signer, nil
	}
}

// envLookup finds name in an environment list of NAME=value strings; the last one wins, as in
// os.Getenv.
func envLookup(env []string, name string) (string, bool) {
	val, ok := "", false
	for _, kv := range env {
		if k, v, found := strings.Cut(kv, "="); found && k == name {
			val, ok = v, true
		}
	}
	return val, ok
}
