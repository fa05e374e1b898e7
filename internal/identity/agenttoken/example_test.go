package agenttoken_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/identity/agenttoken"
)

// An issuer signs a token with its Ed25519 private key; gatehouse, holding only the public key,
// verifies it, and refuses a token of the other scheme.
func Example() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	issued := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

	signer, _ := agenttoken.NewEd25519Signer(priv)
	token, err := agenttoken.Issue(agenttoken.Claims{
		AgentID:  "refund-bot",
		Roles:    []string{"support"},
		IssuedAt: issued,
		Expiry:   issued.Add(time.Hour),
	}, signer)
	if err != nil {
		panic(err)
	}

	verifier, _ := agenttoken.NewEd25519Verifier(priv.Public().(ed25519.PublicKey))
	claims, err := verifier.Verify(token, issued.Add(time.Minute))
	fmt.Println(claims.AgentID, claims.Roles, claims.Scheme, err)

	_, err = verifier.Verify(token, issued.Add(2*time.Hour))
	fmt.Println(agenttoken.CodeOf(err))

	hmacSigner, _ := agenttoken.NewHMACSigner([]byte("0123456789abcdef0123456789abcdef"))
	downgrade, _ := agenttoken.Issue(agenttoken.Claims{AgentID: "refund-bot", IssuedAt: issued, Expiry: issued.Add(time.Hour)}, hmacSigner)
	_, err = verifier.Verify(downgrade, issued.Add(time.Minute))
	fmt.Println(err)
	// Output:
	// refund-bot [support] ed25519 <nil>
	// token_expired
	// agent token is signed with HS256 (scheme hmac), but this gatehouse accepts only ed25519 tokens (EdDSA) (token_wrong_scheme)
}
