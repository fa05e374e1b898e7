package agenttoken

import (
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings, and mutations of valid tokens of both schemes, to verifiers of
// both schemes. Verify must never panic, must refuse with a coded *Error, and must accept nothing
// but the exact tokens the test itself issued: the fuzzer cannot sign, so anything else it makes
// verify is a forgery.
func FuzzVerify(f *testing.F) {
	hs, es := mustHMACSigner(f, testSecret), mustEdSigner(f, testPriv)
	hv, ev := hmacVerifier(f), edVerifier(f)
	signed := map[string]bool{}
	for _, s := range []*Signer{hs, es} {
		for _, c := range []Claims{testClaims(), {AgentID: "a", IssuedAt: issuedAt, Expiry: issuedAt.Add(time.Hour), ID: "x"}} {
			tok := issue(f, c, s)
			signed[tok] = true
			f.Add(tok)
			parts := strings.Split(tok, ".")
			f.Add(parts[0] + "." + parts[1] + ".")
			f.Add(parts[0] + "..." + parts[2])
		}
	}
	f.Add(forge(`{"alg":"none","typ":"`+Type+`"}`, payloadJSON(f, SchemeHMAC, nil), nil))
	f.Add(forge(hmacHeader, payloadJSON(f, SchemeEd25519, nil), hmacSign(testPub)))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		for _, v := range []*Verifier{hv, ev} {
			c, err := v.Verify(token, testNow)
			if err == nil {
				if !signed[token] {
					t.Fatalf("%s verifier accepted a token the test did not issue: %q → %+v", v.Scheme(), token, c)
				}
				if c.AgentID == "" || c.Scheme != v.Scheme() {
					t.Fatalf("accepted claims are incomplete: %+v", c)
				}
				continue
			}
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
		}
	})
}
