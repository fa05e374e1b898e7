package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/testpeer"
)

// TestServeTLS13Minimum serves HTTPS and checks that TLS 1.3 is the floor.
func TestServeTLS13Minimum(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	gw, adminAddr := freeAddr(t), freeAddr(t)
	config := fmt.Sprintf(`
listen: %s
tls: {cert: cert.pem, key: key.pem}
admin: {listen: %s}
policy: {rules: %s}
audit: {path: audit.jsonl}
upstreams:
  - name: peer
    prefix: ""
    command: [%q]
`, gw, adminAddr, example("policies", "allow-all.yaml"), testpeer.Binary(t))
	os.WriteFile(filepath.Join(dir, "serve.yaml"), []byte(config), 0o644)
	background(t, gw, nil, gatehouseBin, "serve", "--config", filepath.Join(dir, "serve.yaml"))

	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	post := func(max uint16) (*http.Response, error) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: max}}}
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
		req, _ := http.NewRequest(http.MethodPost, "https://"+gw+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		return client.Do(req)
	}
	resp, err := post(tls.VersionTLS13)
	if err != nil {
		t.Fatalf("TLS 1.3: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3: status %d version %x", resp.StatusCode, resp.TLS.Version)
	}
	if resp, err := post(tls.VersionTLS12); err == nil {
		resp.Body.Close()
		t.Errorf("a TLS 1.2 client was served (status %d)", resp.StatusCode)
	}

	// The admin listener shares the certificate: TLS 1.3 only, and no plain HTTP.
	admin := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err = admin.Get("https://" + adminAddr + "/healthz")
	if err != nil {
		t.Fatalf("admin over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("admin /healthz over TLS: status %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	if resp, err := http.Get("http://" + adminAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("the admin listener answered plain HTTP while TLS is configured")
		}
	}
}
