package agenttoken

import "testing"

// BenchmarkVerify measures a full verification (parse, header checks, signature, claims) per
// scheme: the cost of a token seen for the first time. The identity stage caches the last token,
// so on stdio this is paid once per session.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		tok  string
		v    *Verifier
	}{
		{"hmac", issue(b, testClaims(), mustHMACSigner(b, testSecret)), hmacVerifier(b)},
		{"ed25519", issue(b, testClaims(), mustEdSigner(b, testPriv)), edVerifier(b)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.v.Verify(tc.tok, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
