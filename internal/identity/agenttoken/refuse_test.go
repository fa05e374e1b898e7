package agenttoken

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestVerifyRefuses pins every refusal to its code. Each case is a token an attacker, a broken
// issuer or a misconfiguration could present.
func TestVerifyRefuses(t *testing.T) {
	hmacTok := issue(t, testClaims(), mustHMACSigner(t, testSecret))
	edTok := issue(t, testClaims(), mustEdSigner(t, testPriv))
	hv, ev := hmacVerifier(t), edVerifier(t)

	tamperPayload := func(tok string) string {
		parts := strings.Split(tok, ".")
		b, _ := enc.DecodeString(parts[1])
		b = []byte(strings.Replace(string(b), `"support","refunds"`, `"support","admin"`, 1))
		return parts[0] + "." + enc.EncodeToString(b) + "." + parts[2]
	}
	tamperSig := func(tok string) string {
		parts := strings.Split(tok, ".")
		b, _ := enc.DecodeString(parts[2])
		b[0] ^= 1
		return parts[0] + "." + parts[1] + "." + enc.EncodeToString(b)
	}
	edPayload := func(edits map[string]any) string { return payloadJSON(t, SchemeEd25519, edits) }
	hmacPayload := func(edits map[string]any) string { return payloadJSON(t, SchemeHMAC, edits) }
	edSigned := func(edits map[string]any) string { return forge(edHeader, edPayload(edits), edSign(testPriv)) }

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  Code
		msg   string // part of the message
	}{
		{"empty", hv, "", CodeEmpty, "missing"},
		{"oversized", hv, strings.Repeat("a", MaxTokenBytes+1), CodeTooLarge, "8193 bytes"},
		{"oversized but well-formed", ev, edTok + strings.Repeat("A", MaxTokenBytes), CodeTooLarge, "more than the 8192"},

		// Downgrade and algorithm confusion.
		{"hmac token to ed25519 verifier", ev, hmacTok, CodeWrongScheme, "signed with HS256 (scheme hmac), but this gatehouse accepts only ed25519"},
		{"ed25519 token to hmac verifier", hv, edTok, CodeWrongScheme, "signed with EdDSA (scheme ed25519), but this gatehouse accepts only hmac"},
		{"HS256 keyed with the Ed25519 public key", ev,
			forge(hmacHeader, edPayload(nil), hmacSign(testPub)), CodeWrongScheme, "HS256"},
		{"HS256 keyed with the public key, claiming ed25519 in every field", ev,
			forge(`{"alg":"HS256","kid":"`+KeyID(testPub)+`","typ":"`+Type+`"}`, edPayload(nil), hmacSign(testPub)), CodeWrongScheme, "HS256"},
		{"alg none", hv, forge(`{"alg":"none","typ":"`+Type+`"}`, hmacPayload(nil), nil), CodeUnsigned, "unsigned"},
		{"alg NONE with a signature", ev, forge(`{"alg":"NONE","typ":"`+Type+`"}`, edPayload(nil), edSign(testPriv)), CodeUnsigned, "unsigned"},
		{"alg RS256", hv, forge(`{"alg":"RS256","typ":"`+Type+`"}`, hmacPayload(nil), hmacSign(testSecret)), CodeWrongScheme, `"RS256", which no gatehouse scheme uses`},
		{"alg missing", hv, forge(`{"typ":"`+Type+`"}`, hmacPayload(nil), hmacSign(testSecret)), CodeMalformed, `no "alg"`},
		{"alg not a string", hv, forge(`{"alg":1,"typ":"`+Type+`"}`, hmacPayload(nil), hmacSign(testSecret)), CodeMalformed, "not a string"},
		{"scheme claim hmac on an EdDSA token", ev, edSigned(map[string]any{"scheme": "hmac"}), CodeSchemeMismatch, `claims scheme "hmac" but is signed with EdDSA`},
		{"scheme claim ed25519 on an HS256 token", hv, forge(hmacHeader, hmacPayload(map[string]any{"scheme": "ed25519"}), hmacSign(testSecret)), CodeSchemeMismatch, `claims scheme "ed25519"`},
		{"scheme claim missing", ev, edSigned(map[string]any{"scheme": nil}), CodeSchemeMismatch, `no "scheme" claim`},

		// Tampering and truncation.
		{"tampered payload hmac", hv, tamperPayload(hmacTok), CodeBadSignature, "does not verify"},
		{"tampered payload ed25519", ev, tamperPayload(edTok), CodeBadSignature, "does not verify"},
		{"tampered signature hmac", hv, tamperSig(hmacTok), CodeBadSignature, "does not verify"},
		{"tampered signature ed25519", ev, tamperSig(edTok), CodeBadSignature, "does not verify"},
		{"other hmac secret", hv, issue(t, testClaims(), mustHMACSigner(t, otherSecret)), CodeBadSignature, "does not verify"},
		{"other ed25519 key", ev, issue(t, testClaims(), mustEdSigner(t, otherPriv)), CodeWrongKey, "is signed by key " + KeyID(otherPriv.Public().(ed25519.PublicKey))},
		{"truncated signature ed25519", ev, edTok[:len(edTok)-10], CodeMalformed, "signature is 57 bytes"},
		{"truncated signature hmac", hv, hmacTok[:len(hmacTok)-10], CodeMalformed, "not strict base64url"},
		{"cut at the last dot", hv, hmacTok[:strings.LastIndex(hmacTok, ".")], CodeMalformed, "2 part(s)"},
		{"signature missing", ev, edTok[:strings.LastIndex(edTok, ".")+1], CodeMalformed, "signature is 0 bytes"},
		{"four parts", hv, hmacTok + ".x", CodeMalformed, "4 part(s)"},
		{"newline inside the signature", hv, hmacTok[:len(hmacTok)-5] + "\n" + hmacTok[len(hmacTok)-5:], CodeMalformed, "0x0a"},
		{"padded base64", hv, strings.Replace(hmacTok, ".", "=.", 1), CodeMalformed, "0x3d"},
		{"non-zero trailing bits", hv, hmacTok[:len(hmacTok)-1] + flipLastBits(hmacTok[len(hmacTok)-1]), CodeMalformed, "not strict base64url"},
		{"not base64 at all", hv, "a.b.c", CodeMalformed, "not strict base64url"},
		{"header not JSON", hv, enc.EncodeToString([]byte("hello")) + "." + strings.SplitN(hmacTok, ".", 2)[1], CodeMalformed, "header is not a JSON object"},

		// Header members.
		{"wrong typ", hv, forge(`{"alg":"HS256","typ":"JWT"}`, hmacPayload(nil), hmacSign(testSecret)), CodeWrongType, `type "JWT"`},
		{"OAuth access token typ", ev, forge(`{"alg":"EdDSA","typ":"at+jwt"}`, edPayload(nil), edSign(testPriv)), CodeWrongType, `type "at+jwt"`},
		{"typ missing", hv, forge(`{"alg":"HS256"}`, hmacPayload(nil), hmacSign(testSecret)), CodeWrongType, `no "typ"`},
		{"crit header", hv, forge(`{"alg":"HS256","typ":"`+Type+`","crit":["exp"]}`, hmacPayload(nil), hmacSign(testSecret)), CodeMalformed, "crit"},
		{"jku header", ev, forge(`{"alg":"EdDSA","typ":"`+Type+`","jku":"https://evil.example/keys"}`, edPayload(nil), edSign(testPriv)), CodeMalformed, "jku"},
		{"duplicate alg", ev, forge(`{"alg":"HS256","alg":"EdDSA","typ":"`+Type+`"}`, edPayload(nil), edSign(testPriv)), CodeMalformed, `"alg" appears twice`},

		// Claims.
		{"no subject", ev, edSigned(map[string]any{"sub": nil}), CodeNoSubject, "names no agent"},
		{"empty subject", ev, edSigned(map[string]any{"sub": ""}), CodeNoSubject, "names no agent"},
		{"no expiry", ev, edSigned(map[string]any{"exp": nil}), CodeNoExpiry, "valid forever"},
		{"subject not a string", ev, edSigned(map[string]any{"sub": 7}), CodeInvalidClaims, `"sub" is not a string`},
		{"roles not an array", ev, edSigned(map[string]any{"roles": "admin"}), CodeInvalidClaims, `"roles" is not an array`},
		{"role not a string", ev, edSigned(map[string]any{"roles": []any{"a", 1}}), CodeInvalidClaims, `"roles"[1] is not a string`},
		{"duplicate role", ev, edSigned(map[string]any{"roles": []string{"a", "a"}}), CodeInvalidClaims, "listed twice"},
		{"escape sequence in agent", ev, edSigned(map[string]any{"sub": "bot\x1b]0;pwned\x07"}), CodeInvalidClaims, "control or format character"},
		{"exp as a string", ev, edSigned(map[string]any{"exp": "tomorrow"}), CodeInvalidClaims, `"exp" is not a number`},
		{"negative exp", ev, edSigned(map[string]any{"exp": -1}), CodeInvalidClaims, "out of range"},
		{"empty tenant", ev, edSigned(map[string]any{"tenant": ""}), CodeInvalidClaims, `"tenant" is empty`},
		{"payload not JSON", ev, forge(edHeader, "not json", edSign(testPriv)), CodeInvalidClaims, "not a JSON object"},
		{"duplicate sub", ev, forge(edHeader, `{"sub":"a","sub":"admin","scheme":"ed25519","exp":9999999999}`, edSign(testPriv)), CodeInvalidClaims, `"sub" appears twice`},
		{"trailing data after claims", ev, forge(edHeader, edPayload(nil)+"{}", edSign(testPriv)), CodeInvalidClaims, "data after"},

		// Time.
		{"expired", hv, hmacTok, CodeExpired, "expired at 2026-11-20T11:00:00Z"},
		{"not yet valid (nbf)", ev, edSigned(map[string]any{"nbf": testNow.Add(ClockSkew + time.Second).Unix()}), CodeNotYetValid, "not valid before"},
		{"issued in the future", ev, edSigned(map[string]any{"iat": testNow.Add(time.Hour).Unix()}), CodeNotYetValid, "issued in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			if tt.want == CodeExpired {
				now = issuedAt.Add(time.Hour + ClockSkew)
			}
			c, err := tt.v.Verify(tt.token, now)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", c)
			}
			if got := CodeOf(err); got != tt.want {
				t.Errorf("code = %q, want %q (%v)", got, tt.want, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), string(testSecret)) || (len(tt.token) > 20 && strings.Contains(err.Error(), tt.token)) {
				t.Errorf("message leaks the secret or the token: %q", err)
			}
		})
	}
}

// flipLastBits replaces the last base64url character of an HS256 signature (43 characters, the last
// carrying 2 unused bits) with one that decodes to the same bytes under lenient decoding.
func flipLastBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

// TestClockSkewBoundaries pins the tolerance: accepted up to ClockSkew after exp and from ClockSkew
// before nbf, refused one second beyond.
func TestClockSkewBoundaries(t *testing.T) {
	c := testClaims()
	c.NotBefore = issuedAt.Add(5 * time.Minute)
	tok := issue(t, c, mustHMACSigner(t, testSecret))
	v := hmacVerifier(t)
	tests := []struct {
		now  time.Time
		want Code
	}{
		{c.NotBefore.Add(-ClockSkew - time.Second), CodeNotYetValid},
		{c.NotBefore.Add(-ClockSkew), ""},
		{c.Expiry, ""},
		{c.Expiry.Add(ClockSkew - time.Second), ""},
		{c.Expiry.Add(ClockSkew), CodeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.now.Format(time.TimeOnly), func(t *testing.T) {
			_, err := v.Verify(tok, tt.now)
			if got := CodeOf(err); got != tt.want {
				t.Errorf("at %v: code %q, want %q (%v)", tt.now, got, tt.want, err)
			}
		})
	}
	got, err := v.Verify(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckTimes(got, c.Expiry.Add(time.Hour)); CodeOf(err) != CodeExpired {
		t.Errorf("CheckTimes an hour after expiry: %v, want token_expired", err)
	}
}

// TestEverySingleCharacterMutationIsRefused changes each character of valid tokens to other bytes
// a token may contain and checks none of the results verifies: there is one spelling of a valid
// token. HMAC tokens get every replacement; Ed25519 tokens, whose checks cost more, every 8th.
func TestEverySingleCharacterMutationIsRefused(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for _, tc := range []struct {
		name string
		tok  string
		v    *Verifier
		step int
	}{
		{"hmac", issue(t, testClaims(), mustHMACSigner(t, testSecret)), hmacVerifier(t), 1},
		{"ed25519", issue(t, testClaims(), mustEdSigner(t, testPriv)), edVerifier(t), 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.tok)
			for i := range b {
				orig := b[i]
				for j := i % tc.step; j < len(alphabet); j += tc.step {
					if alphabet[j] == orig {
						continue
					}
					b[i] = alphabet[j]
					if _, err := tc.v.Verify(string(b), testNow); err == nil {
						t.Fatalf("mutation at %d (%q→%q) verified: %s", i, orig, alphabet[j], b)
					}
				}
				b[i] = orig
			}
		})
	}
}
