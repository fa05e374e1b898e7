package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	ciKey  = "gh_6Jx9mVq2Zr8Tn4Lp0Wc7Yb3Kd5Hf1Sa"
	botKey = "Qm9vdHN0cmFwIHRoaXMga2V5IHBsZWFzZQ=="
)

func apiKeyConfig() Config {
	return Config{APIKeys: &APIKeysConfig{
		Header: "X-API-Key",
		Keys: []APIKeyConfig{
			{ID: "ci", Hash: HashAPIKey(ciKey), Roles: []string{"deployer"}, Tenant: "acme"},
			{ID: "bot", Hash: strings.ToUpper(HashAPIKey(botKey)[:7]) + strings.ToUpper(HashAPIKey(botKey)[7:]), Roles: []string{"reader"}},
		},
	}}
}

func TestHashAPIKey(t *testing.T) {
	// The SHA-256 of "test", as sha256sum prints it.
	if got, want := HashAPIKey("test"), "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// The one-liner in the docs gives the same answer.
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sh", "-c", `printf %s "$KEY" | sha256sum`)
		cmd.Env = []string{"KEY=" + ciKey}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := "sha256:"+strings.Fields(string(out))[0], HashAPIKey(ciKey); got != want {
			t.Errorf("sha256sum one-liner gives %s, HashAPIKey gives %s", got, want)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	tests := []struct {
		name       string
		headers    []string
		wantID     string
		wantStatus int
		wantCode   string
	}{
		{"bearer", []string{"Authorization", "Bearer " + ciKey}, "ci", 0, ""},
		{"bearer, lowercase scheme", []string{"Authorization", "bearer " + ciKey}, "ci", 0, ""},
		{"configured header", []string{"X-API-Key", botKey}, "bot", 0, ""},
		{"configured header, other spelling", []string{"x-api-key", ciKey}, "ci", 0, ""},
		{"wrong key", []string{"Authorization", "Bearer " + ciKey + "x"}, "", http.StatusUnauthorized, CodeInvalidToken},
		{"wrong key in the header", []string{"X-API-Key", "nope"}, "", http.StatusUnauthorized, CodeInvalidToken},
		{"hash instead of key", []string{"X-API-Key", HashAPIKey(ciKey)}, "", http.StatusUnauthorized, CodeInvalidToken},
		{"key with a space", []string{"X-API-Key", "a b"}, "", http.StatusUnauthorized, CodeInvalidToken},
		{"no credentials", nil, "", http.StatusUnauthorized, ""},
		{"basic scheme", []string{"Authorization", "Basic Y2k6c2VjcmV0"}, "", http.StatusUnauthorized, ""},
		{"bearer and header", []string{"Authorization", "Bearer " + ciKey, "X-API-Key", ciKey}, "", http.StatusBadRequest, CodeInvalidRequest},
		{"two Authorization headers", []string{"Authorization", "Bearer " + ciKey, "Authorization", "Bearer " + botKey}, "", http.StatusBadRequest, CodeInvalidRequest},
		{"empty bearer", []string{"Authorization", "Bearer "}, "", http.StatusUnauthorized, CodeInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, apiKeyConfig())
			id, err := f.auth(t, tc.headers...)
			if tc.wantID != "" {
				if err != nil {
					t.Fatalf("got %v, want %s", err, tc.wantID)
				}
				if id.Principal.ID != tc.wantID || id.Method != MethodAPIKey {
					t.Errorf("got %q by %s, want %q by api_key", id.Principal.ID, id.Method, tc.wantID)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q, want a refusal", id.Principal.ID)
			}
			if err.Status != tc.wantStatus || err.Code != tc.wantCode {
				t.Errorf("got %d %q, want %d %q", err.Status, err.Code, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestAPIKeyIdentity(t *testing.T) {
	f := newFixture(t, apiKeyConfig())
	id, err := f.auth(t, "Authorization", "Bearer "+ciKey)
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{Method: MethodAPIKey, Tenant: "acme"}
	want.Principal.ID, want.Principal.Roles, want.Principal.Claims = "ci", []string{"deployer"}, map[string]any{}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
	if got := f.requests("api_key", "ok"); got != 1 {
		t.Errorf("got %v ok api_key requests, want 1", got)
	}
}

// TestAPIKeyConstantTimePath: every configured hash is compared, with the constant-time comparison,
// whether the key matches the first entry, the last, or none.
func TestAPIKeyConstantTimePath(t *testing.T) {
	var keys []APIKeyConfig
	for _, k := range []string{"k0", "k1", "k2", "k3"} {
		keys = append(keys, APIKeyConfig{ID: k, Hash: HashAPIKey("key-" + k)})
	}
	set, err := newAPIKeySet(keys)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	set.eq = func(a, b []byte) int { calls++; return subtle.ConstantTimeCompare(a, b) }
	for _, tc := range []struct {
		key, want string
	}{{"key-k0", "k0"}, {"key-k3", "k3"}, {"key-none", ""}} {
		calls = 0
		id := set.lookup(sha256.Sum256([]byte(tc.key)))
		got := ""
		if id != nil {
			got = id.Principal.ID
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.key, got, tc.want)
		}
		if calls != len(keys) {
			t.Errorf("%s: compared %d hashes, want all %d", tc.key, calls, len(keys))
		}
	}
}

// TestAPIKeysAndJWT: with both configured, an API key and a JWT each find their way.
func TestAPIKeysAndJWT(t *testing.T) {
	rs := rsaSigner("rsa-1")
	idp := newJWKSServer(t, rs)
	cfg := jwtConfig(idp.URL)
	cfg.APIKeys = apiKeyConfig().APIKeys
	f := newFixture(t, cfg)
	if id, err := f.bearer(t, ciKey); err != nil || id.Method != MethodAPIKey {
		t.Errorf("API key: got %v %v, want api_key", id, err)
	}
	if id, err := f.bearer(t, rs.sign(claimsAt(t0))); err != nil || id.Method != MethodJWT {
		t.Errorf("JWT: got %v %v, want jwt", id, err)
	}
	if _, err := f.bearer(t, "not-a-key"); err == nil {
		t.Error("unknown bearer accepted")
	} else if got := f.requests("api_key", "invalid"); got != 1 {
		t.Errorf("got %v invalid api_key requests, want 1", got)
	}
	// A JWT in the API-key header is not a JWT path: that header is for keys only.
	if _, err := f.auth(t, "X-API-Key", rs.sign(claimsAt(t0))); err == nil {
		t.Error("a JWT in the API-key header was accepted")
	}
}

func TestAnonymous(t *testing.T) {
	f := newFixture(t, Config{Anonymous: &AnonymousConfig{Roles: []string{"dev"}, Tenant: "local"}})
	if !f.a.Anonymous() {
		t.Fatal("Anonymous() is false")
	}
	for _, h := range [][]string{nil, {"Authorization", "Bearer garbage"}} {
		id, err := f.auth(t, h...)
		if err != nil {
			t.Fatalf("got %v, want the anonymous principal", err)
		}
		if id.Principal.ID != "anonymous" || id.Method != MethodAnonymous || id.Tenant != "local" || !cmp.Equal(id.Principal.Roles, []string{"dev"}) {
			t.Errorf("got %+v, want anonymous with role dev in tenant local", id)
		}
	}
	if got := f.requests("anonymous", "ok"); got != 2 {
		t.Errorf("got %v anonymous requests, want 2", got)
	}
}
