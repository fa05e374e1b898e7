package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse-mcp/gatehouse/internal/auth"
)

func ExampleHashAPIKey() {
	// What goes in api_keys.keys[].hash; the same as: printf %s "$KEY" | sha256sum
	fmt.Println(auth.HashAPIKey("test"))
	// Output: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
}

// Example shows the wiring the HTTP gateway does: metadata outside authentication, Authenticate
// before the body is read, Challenge on failure.
func Example() {
	a, err := auth.New(auth.Config{
		APIKeys:  &auth.APIKeysConfig{Keys: []auth.APIKeyConfig{{ID: "ci", Hash: auth.HashAPIKey("k-123"), Roles: []string{"deployer"}}}},
		Resource: auth.ResourceConfig{URI: "https://mcp.example.com/mcp"},
	}, auth.Options{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(auth.WellKnownPath, a.MetadataHandler())
	mux.Handle(auth.WellKnownPath+"/", a.MetadataHandler())
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Identify(r.Context(), r)
		if err != nil {
			a.Challenge(w, err)
			return
		}
		fmt.Fprintf(w, "hello %s %v", id.Principal.ID, id.Principal.Roles)
	})

	for _, key := range []string{"", "wrong", "k-123"} {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
			continue
		}
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Output:
	// 401 Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// 401 Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="the credentials are invalid"
	// 200 hello ci [deployer]
}
