package cli

import (
	"fmt"
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
// call), else the trusted local identity of --agent and --roles.
func runIdentity(p *runParams, cfg *config.Config, env []string) (*runWho, error) {
	token := p.agentToken
	if token == "" {
		token, _ = envLookup(env, EnvAgentToken)
	}
	secret, secretFromEnv := envLookup(env, EnvAgentSecret)
	haveSecret := p.secretFile != "" || secretFromEnv && secret != ""
	if token == "" {
		if p.pubkey != "" || p.secretFile != "" {
			return nil, fail(ExitUsage, "--pubkey and --secret-file verify an agent token: give one with $%s or --agent-token", EnvAgentToken)
		}
		return &runWho{stage: identity.NewLocal(cfg.Identity.Agent, cfg.Identity.Roles), describe: "local",
			agent: cfg.Identity.Agent, roles: cfg.Identity.Roles}, nil
	}
	if cfg.Identity.Agent != "" || len(cfg.Identity.Roles) > 0 {
		return nil, fail(ExitUsage, "an agent token names the agent and its roles: do not also give --agent or --roles (or identity.agent, identity.roles)")
	}
	var v *agenttoken.Verifier
	var err error
	switch {
	case p.pubkey != "" && haveSecret:
		return nil, fail(ExitUsage, "give one verification key: --pubkey (ed25519) or --secret-file / $%s (hmac), not both", EnvAgentSecret)
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
	case haveSecret:
		s, serr := agenttoken.ParseSecret([]byte(secret))
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
