package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/auditlog"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
)

// EnvAgentToken is the environment variable that carries the agent token of gatehouse run. Prefer it
// to --agent-token: a process's arguments are visible to every user in ps.
const EnvAgentToken = "GATEHOUSE_AGENT_TOKEN"

// runWho is the identity stage of gatehouse run and how it is described at start-up.
type runWho struct {
	stage    pipeline.Stage
	describe string // "local" or "token:<scheme>"
	agent    string
	roles    []string
}

// runIdentity chooses the identity of gatehouse run's only caller: a signed agent token when one is
// given (verified now, so that a bad token stops gatehouse at start-up rather than refusing every
// call), else the trusted local identity of --agent and --roles. logger receives the start-up
// warning about a secret given on the command line; no message here ever contains a secret.
func runIdentity(p *runParams, cfg *config.Config, env []string, logger *slog.Logger) (*runWho, error) {
	token := p.agentToken
	if token == "" {
		token, _ = envLookup(env, EnvAgentToken)
	}
	envSecret, _ := envLookup(env, EnvAgentSecret)
	// The HMAC secret comes from exactly one place: a file, the environment or (discouraged) a flag.
	var secretFrom []string
	if p.secretFile != "" {
		secretFrom = append(secretFrom, "--secret-file")
	}
	if p.secret != "" {
		secretFrom = append(secretFrom, "--secret")
	}
	if envSecret != "" {
		secretFrom = append(secretFrom, "$"+EnvAgentSecret)
	}
	if p.secret != "" {
		// Warned before anything can fail, so that even a refused start-up says it. Never the value.
		logger.Warn("the HMAC secret was given with --secret: a command line is visible to other local users in the process list (ps) and may be kept in shell history; use --secret-file FILE (mode 0600) or $" + EnvAgentSecret + " instead")
	}
	if token == "" {
		if p.pubkey != "" || p.secretFile != "" || p.secret != "" {
			return nil, fail(ExitUsage, "--pubkey, --secret-file and --secret verify an agent token: give one with $%s or --agent-token", EnvAgentToken)
		}
		return &runWho{stage: identity.NewLocal(cfg.Identity.Agent, cfg.Identity.Roles), describe: "local",
			agent: cfg.Identity.Agent, roles: cfg.Identity.Roles}, nil
	}
	if cfg.Identity.Agent != "" || len(cfg.Identity.Roles) > 0 {
		return nil, fail(ExitUsage, "an agent token names the agent and its roles: do not also give --agent or --roles (or identity.agent, identity.roles)")
	}
	if len(secretFrom) > 1 {
		return nil, fail(ExitUsage, "the HMAC secret is given by %s: give it one way only", strings.Join(secretFrom, " and "))
	}
	var v *agenttoken.Verifier
	var err error
	switch {
	case p.pubkey != "" && len(secretFrom) > 0:
		return nil, fail(ExitUsage, "give one verification key: --pubkey (ed25519) or %s (hmac), not both", secretFrom[0])
	case p.pubkey != "":
		pub, perr := auditlog.ReadPublicKeyFile(p.pubkey)
		if perr != nil {
			return nil, fail(ExitUsage, "--pubkey: %v", perr)
		}
		v, err = agenttoken.NewEd25519Verifier(pub)
	case p.secretFile != "":
		s, serr := agenttoken.ReadSecretFile(p.secretFile)
		if serr != nil {
			return nil, fail(ExitUsage, "--secret-file: %v", serr)
		}
		v, err = agenttoken.NewHMACVerifier(s)
	case p.secret != "":
		s, serr := agenttoken.ParseSecret([]byte(p.secret))
		if serr != nil {
			return nil, fail(ExitUsage, "--secret: %v", serr)
		}
		v, err = agenttoken.NewHMACVerifier(s)
	case envSecret != "":
		s, serr := agenttoken.ParseSecret([]byte(envSecret))
		if serr != nil {
			return nil, fail(ExitUsage, "$%s: %v", EnvAgentSecret, serr)
		}
		v, err = agenttoken.NewHMACVerifier(s)
	default:
		return nil, fail(ExitUsage, "an agent token needs a key to verify it: --pubkey FILE (ed25519) or --secret-file FILE / $%s (hmac)", EnvAgentSecret)
	}
	if err != nil {
		return nil, fail(ExitUsage, "%v", err)
	}
	principal, claims, err := identity.VerifyToken(v, token, time.Now())
	if err != nil {
		return nil, fail(ExitUsage, "agent token refused: %v", err)
	}
	st, err := identity.NewToken(identity.TokenOptions{Verifier: v, Source: identity.StaticToken(token)})
	if err != nil {
		return nil, fail(ExitUsage, "%v", err)
	}
	return &runWho{stage: st, describe: fmt.Sprintf("token:%s (expires %s)", claims.Scheme, claims.Expiry.UTC().Format(time.RFC3339)),
		agent: principal.ID, roles: principal.Roles}, nil
}
