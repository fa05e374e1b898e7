package redact

import (
	"strings"
	"testing"
)

const testJWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

func TestText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Private keys.
		{"private key block", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\nbye",
			"key:\n[REDACTED_PRIVATE_KEY]\nbye"},
		{"openssh key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----", "[REDACTED_PRIVATE_KEY]"},
		{"truncated key", "x -----BEGIN PRIVATE KEY-----\nMIIE", "x [REDACTED_PRIVATE_KEY]"},
		{"public key is not secret", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----", ""},
		{"certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", ""},
		// JWTs.
		{"jwt", "token " + testJWT + " end", "token [REDACTED_JWT] end"},
		{"jwt alg none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0.", "[REDACTED_JWT]"},
		{"jwt-like header only", "eyJhbGciOiJIUzI1NiJ9", ""},
		// URL credentials.
		{"url credentials", "dsn https://deploy:s3cr3t!@ci.example.org/x?y=1", "dsn https://[REDACTED_URL_CREDENTIALS]@ci.example.org/x?y=1"},
		{"url user only", "https://user@github.com/x", ""},
		{"at in path", "https://x.example/a:b@c", ""},
		{"postgres", "postgres://app:pw@db:5432/app", "postgres://[REDACTED_URL_CREDENTIALS]@db:5432/app"},
		// Provider keys.
		{"aws", "id AKIAIOSFODNN7EXAMPLE.", "id [REDACTED_API_KEY]."},
		{"aws too long", "AKIAIOSFODNN7EXAMPLEX", ""},
		{"aws lower case", "akiaiosfodnn7example", ""},
		{"github", "ghp_4Ff9kLmN0pQrS7tUvWxYz1A2b3C4d5E6f7G8", "[REDACTED_API_KEY]"},
		{"github pat", "github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", "[REDACTED_API_KEY]"},
		{"openai", "OPENAI=sk-proj-9aB3cD4eF5gH6iJ7kL8mN9oP0qR", "OPENAI=[REDACTED_API_KEY]"},
		{"anthropic", "sk-ant-api03-9aB3cD4eF5gH6iJ7kL8mN9oP0qR", "[REDACTED_API_KEY]"},
		{"slack", "xoxb-2048-4096-AbCdEfGhIj", "[REDACTED_API_KEY]"},
		{"stripe", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED_API_KEY]"},
		{"google", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "[REDACTED_API_KEY]"},
		{"sendgrid", "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", "[REDACTED_API_KEY]"},
		{"sk- word is not a key", "sk-learn and task-runner-configuration", ""},
		// Bearer and high-entropy tokens.
		{"bearer", "Authorization: Bearer abcd1234efgh5678", "Authorization: Bearer [REDACTED_TOKEN]"},
		{"basic", "Basic dXNlcjpwYXNzd29yZA==", "Basic [REDACTED_TOKEN]"},
		{"random token", "k=Xk9fQ2mZ8rT4vB7nW1pL6cY3hJ5sD0gA;", "k=[REDACTED_TOKEN];"},
		{"aws secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[REDACTED_TOKEN]"},
		{"identifier", "getUserAccountSettingsV2FromCache", ""},
		{"path", "src/components/Header/NavigationMenu2.tsx", ""},
		{"sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ""},
		{"uuid", "550e8400-e29b-41d4-a716-446655440000", ""},
		{"base64 image", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8Xk9fQ2mZ8rT4vB7nW1pL6cY3h", ""},
		// Cards.
		{"card", "card 4111111111111111 ok", "card [REDACTED_CARD] ok"},
		{"card spaced", "4111 1111 1111 1111", "[REDACTED_CARD]"},
		{"card dashed", "5555-5555-5555-4444.", "[REDACTED_CARD]."},
		{"amex", "3782 822463 10005", "[REDACTED_CARD]"},
		{"not luhn", "4111111111111112", ""},
		{"epoch millis", "1700000000000000", ""},
		{"too long", "41111111111111111111", ""},
		{"single digits", "2 3 5 7 1 1 1 3 1 7 1 9 2 3 2 9", ""},
		{"part of a word", "order4111111111111111", ""},
		{"phone", "+44 20 7946 0958", ""},
		// Sensitive names inside text.
		{"query", "https://x.example/cb?code=1&access_token=abc123&state=z", "https://x.example/cb?code=1&access_token=[REDACTED]&state=z"},
		{"env", "DB_PASSWORD=hunter2\nHOME=/root", "DB_PASSWORD=[REDACTED]\nHOME=/root"},
		{"spaced", "password = hunter2", "password = [REDACTED]"},
		{"quoted value", `api_key='abc def'`, `api_key='[REDACTED]'`},
		{"comparison", "if token == expected", ""},
		{"json in text", `body: {"user":"a","password":"hunter2","n":1}`, `body: {"user":"a","password":"[REDACTED]","n":1}`},
		{"json number", `{"ssn": 123456789}`, `{"ssn": "[REDACTED]"}`},
		{"json object value left to JSON", `{"auth": {"x": 1}}`, ""},
		{"metadata", "max_tokens=100", ""},
		// Prose.
		{"prose", "Choose a password of at least 12 characters; your token expires after an hour.", ""},
		{"keyboard", "keyboard=us", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if got := Text(tt.in); got != want {
				t.Errorf("Text(%q):\n got %q\nwant %q", tt.in, got, want)
			}
		})
	}
}

func TestTextIdempotent(t *testing.T) {
	in := "a AKIAIOSFODNN7EXAMPLE b " + testJWT + " https://u:p@h/x password=x 4111111111111111 Bearer abcdefgh12345678"
	once := Text(in)
	if twice := Text(once); twice != once {
		t.Errorf("Text is not idempotent:\nonce  %q\ntwice %q", once, twice)
	}
	if strings.Contains(once, "AKIA") || strings.Contains(once, "4111") {
		t.Errorf("secrets left in %q", once)
	}
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		digits string
		want   bool
	}{
		{"4111111111111111", true}, {"5555555555554444", true}, {"378282246310005", true}, {"6011111111111117", true},
		{"79927398713", true}, {"4111111111111112", false}, {"1234567812345678", false}, {"0", true}, {"", false},
	}
	for _, tt := range tests {
		d := make([]byte, len(tt.digits))
		for i := range tt.digits {
			d[i] = tt.digits[i] - '0'
		}
		if got := Luhn(d); got != tt.want {
			t.Errorf("Luhn(%s): got %v, want %v", tt.digits, got, tt.want)
		}
	}
}

// A marker at the start of a value does not shield what follows it; a value that is exactly a
// marker is left alone, and nothing inside its member is taken for something else.
func TestMarkersDoNotShield(t *testing.T) {
	key := "AKIAIOSFODNN7EXAMPLE"
	for _, in := range []string{
		`"password": "[REDACTED] ` + key + `"`,
		`{"text":"\"token\":\"[REDACTED] ` + key + `\""}`,
		`"[REDACTED_TOKEN] ` + key + `"`,
	} {
		if got := Text(in); strings.Contains(got, key) {
			t.Errorf("Text(%q) = %q: the key survived", in, got)
		}
		if got := string(JSON([]byte(in))); strings.Contains(got, key) {
			t.Errorf("JSON(%q) = %q: the key survived", in, got)
		}
	}
	for _, in := range []string{`"ssn=":"[REDACTED]"`, `"password":"[REDACTED_API_KEY]"`} {
		if got := Text(in); got != in {
			t.Errorf("Text(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestIsMarker(t *testing.T) {
	for s, want := range map[string]bool{"[REDACTED]": true, "[REDACTED_API_KEY]": true, "[REDACTED_]": false,
		"[REDACTED_x]": false, "[REDACTED] x": false, "[REDACTEDX]": false, "REDACTED": false} {
		if isMarker(s) != want {
			t.Errorf("isMarker(%q) = %v", s, !want)
		}
	}
}

// Text already redacted comes back as it is, without a copy: previews redacted by policy are
// redacted again for every audit record.
func TestRedactedTextIsNotCopied(t *testing.T) {
	in := `{"ssn":"[REDACTED]","note":"key [REDACTED_API_KEY] rotated"}`
	if n := testing.AllocsPerRun(100, func() { _ = Text(in) }); n != 0 {
		t.Errorf("Text of redacted text allocates %v times, want 0", n)
	}
}
