package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
)

// replicas builds the routing of legacy sessions between replicas from replicas.* (nil when
// replicas.name is not set): the shared key read, the peers' URLs, and the transport that carries
// forwarded requests.
func replicas(c *config.ReplicasConfig, getenv func(string) string) (*streamable.Replicas, error) {
	if !c.Enabled() {
		return nil, nil
	}
	key, err := readSecret("replicas.key", c.KeyEnv, c.KeyFile, "replica key file", getenv)
	if err != nil {
		return nil, err
	}
	// A file's trailing newline is not part of its key (readSecret): neither is a variable's, so that
	// replicas reading one key in different ways agree.
	key = bytes.TrimRight(key, " \t\r\n")
	peers, err := c.PeerURLs()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // replicas talk to each other directly, never through an egress proxy
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 64
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		if tr.TLSClientConfig.RootCAs, err = caPool(c.CAFile); err != nil {
			return nil, fmt.Errorf("replicas.ca_file: %w", err)
		}
	}
	r := &streamable.Replicas{Name: c.Name, Peers: peers, Key: key, Transport: tr}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return r, nil
}

// caPool is the system's certificate authorities and those of the PEM file at path.
func caPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
