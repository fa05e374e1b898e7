package redact

import (
	"strconv"
	"strings"
	"testing"
)

// words returns the segments of key.
func words(key string) []string {
	var segs [maxSegments][2]int
	buf, n := splitKey(key, nil, &segs)
	out := make([]string, n)
	for i := range out {
		out[i] = string(buf[segs[i][0]:segs[i][1]])
	}
	return out
}

func TestSensitiveKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		// The names of SPEC §8.6, in the spellings they take.
		{"password", true}, {"PASSWORD", true}, {"db_password", true}, {"dbPassword", true}, {"passwords", true},
		{"token", true}, {"access_token", true}, {"accessToken", true}, {"refresh-token", true}, {"tokens", true},
		{"secret", true}, {"client_secret", true}, {"clientSecret", true}, {"SECRET_KEY", true},
		{"key", true}, {"api_key", true}, {"apiKey", true}, {"X-Api-Key", true}, {"APIKey", true}, {"apikey", true},
		{"auth", true}, {"Authorization", true}, {"proxy-authorization", true}, {"authToken", true}, {"x-auth", true},
		{"session_id", true}, {"sessionId", true}, {"SESSIONID", true}, {"sessionid", true}, {"session.id", true},
		{"ssn", true}, {"customer_ssn", true},
		{"email", true}, {"userEmail", true}, {"emails", true}, {"email_address", true},
		{"phone", true}, {"phoneNumber", true}, {"mobile_phone", true},
		{"address", true}, {"homeAddress", true}, {"ip_address", true}, {"addresses", true}, {"address_line1", true},
		{"password2", true}, {"pass.word", false},
		// Look-alikes that are not these names.
		{"keyboard", false}, {"monkey", false}, {"keynote", false}, {"tokenizer", false}, {"secretary", false},
		{"author", false}, {"authority", false}, {"authorName", false}, {"addressee", false}, {"phonetic", false},
		{"session", false}, {"id", false}, {"user_id", false}, {"name", false}, {"", false},
		// Metadata about a secret, not the secret.
		{"max_tokens", false}, {"maxTokens", false}, {"token_count", false}, {"tokens_used", false},
		{"token_type", false}, {"password_length", false}, {"expires_in", false}, {"auth_method", false},
		{"email_verified", false}, {"token_endpoint", false},
		// Lookup keys.
		{"primary_key", false}, {"sortKey", false}, {"cache_key", false}, {"partition_key", false},
		{"key_id", true}, {"private_key", true}, {"signing_key", true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			// The second answer comes from the cache.
			for range 2 {
				if got := SensitiveKey(tt.key); got != tt.want {
					t.Errorf("SensitiveKey(%q) with segments %q: got %v, want %v", tt.key, words(tt.key), got, tt.want)
				}
			}
		})
	}
}

// TestSensitiveKeyCache checks that the cache answers as the check does when names collide in its
// slots and when a name is a slice of a larger string that changes meaning around it.
func TestSensitiveKeyCache(t *testing.T) {
	names := make([]string, 0, 4*len(keyCache))
	for i := range 2 * len(keyCache) {
		names = append(names, "field"+strconv.Itoa(i), "secret"+strconv.Itoa(i)+"_token")
	}
	for round := range 2 {
		for _, n := range names {
			if got, want := SensitiveKey(n), sensitiveKey(n); got != want {
				t.Fatalf("round %d: SensitiveKey(%q) = %v, want %v", round, n, got, want)
			}
		}
	}
	doc := "xx api_key yy"
	if !SensitiveKey(doc[3:10]) || SensitiveKey(doc[3:6]) || !SensitiveKey("api_key") {
		t.Error("a name sliced from a larger string was not answered for itself")
	}
	long := strings.Repeat("a", maxCachedKey) + "_password"
	if !SensitiveKey(long) || !SensitiveKey(long) {
		t.Error("a name longer than the cache keeps was not checked")
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		key  string
		want string
	}{
		{"db_password", "db password"},
		{"X-Api-Key", "x api key"},
		{"APIKey", "api key"},
		{"userEmailAddress", "user email address"},
		{"password2", "password 2"},
		{"HTTPServerURL", "http server url"},
		{"ÜberKey", "über key"},
		{"a..b", "a b"},
	}
	for _, tt := range tests {
		if got := strings.Join(words(tt.key), " "); got != tt.want {
			t.Errorf("segments(%q): got %q, want %q", tt.key, got, tt.want)
		}
	}
}
