package cli

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestProbeCommand drives gatehouse probe against a stand-in admin listener: /readyz's answer
// becomes the exit status with its reasons printed, the token is sent from a file, and an https
// listener is verified against --ca-file under --server-name.
func TestProbeCommand(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte("ok\n"))
		case r.URL.Path == "/readyz" && r.Header.Get("Authorization") == "" && ready.Load():
			w.Write([]byte(`{"ready": true}`))
		case r.URL.Path == "/readyz" && r.Header.Get("Authorization") == "":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ready": false}`))
		case r.Header.Get("Authorization") != "Bearer tok": // a wrong token, or none but for /readyz
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"admin token required"}`))
		case r.URL.Path == "/readyz" && ready.Load():
			w.Write([]byte(`{"ready": true, "problems": []}`))
		case r.URL.Path == "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ready": false, "problems": ["no upstream is usable"]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("tok\n"), 0o600)
	// httptest's certificate is valid for 127.0.0.1 and example.com.
	base := []string{"--admin", srv.URL, "--ca-file", ca, "--token-file", token}

	if code, out, errOut := gatehouseEnv(t, nil, append([]string{"probe", "ready"}, base...)...); code != 0 || out != "ready\n" {
		t.Errorf("ready: exit %d %q %s", code, out, errOut)
	}
	if code, out, _ := gatehouseEnv(t, nil, "probe", "live", "--admin", srv.URL, "--ca-file", ca); code != 0 || out != "alive\n" {
		t.Errorf("live without a token: exit %d %q", code, out)
	}
	ready.Store(false)
	if code, _, errOut := gatehouseEnv(t, nil, append([]string{"probe", "ready"}, base...)...); code != ExitProblem || !strings.Contains(errOut, "not ready: no upstream is usable") {
		t.Errorf("not ready: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouseEnv(t, nil, "probe", "ready", "--admin", srv.URL, "--ca-file", ca); code != ExitProblem || !strings.Contains(errOut, "not ready: /readyz answered 503 (it says why only to the admin token)") {
		t.Errorf("not ready, without the token: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouseEnv(t, nil, "probe", "ready", "--admin", srv.URL, "--ca-file", ca, "--token-file", filepath.Join(dir, "wrong")); code != ExitUsage {
		t.Errorf("a missing token file: exit %d %s", code, errOut)
	}
	ready.Store(true)
	if code, out, errOut := gatehouseEnv(t, nil, "probe", "ready", "--admin", srv.URL, "--ca-file", ca); code != 0 || out != "ready\n" {
		t.Errorf("ready, without the token: exit %d %q %s", code, out, errOut)
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("nope"), 0o600)
	if code, _, errOut := gatehouseEnv(t, nil, "probe", "ready", "--admin", srv.URL, "--ca-file", ca, "--token-file", filepath.Join(dir, "bad")); code != ExitRuntime || !strings.Contains(errOut, "token") {
		t.Errorf("a wrong token: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouseEnv(t, nil, append([]string{"probe", "live", "--server-name", "example.com"}, base...)...); code != 0 {
		t.Errorf("--server-name the certificate names: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouseEnv(t, nil, append([]string{"probe", "live", "--server-name", "gatehouse.example.org"}, base...)...); code != ExitRuntime || !strings.Contains(errOut, "certificate") {
		t.Errorf("--server-name the certificate does not name: exit %d %s", code, errOut)
	}
	if code, _, errOut := gatehouseEnv(t, nil, "probe", "live", "--admin", srv.URL); code != ExitRuntime || !strings.Contains(errOut, "certificate") {
		t.Errorf("an https listener not verified by the system's roots: exit %d %s", code, errOut)
	}
	srv.Close()
	if code, _, _ := gatehouseEnv(t, nil, append([]string{"probe", "live"}, base...)...); code != ExitRuntime {
		t.Errorf("nothing listening: exit %d, want %d", code, ExitRuntime)
	}
}
