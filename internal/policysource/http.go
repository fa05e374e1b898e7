package policysource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// download is one answer of a bundle server.
type download struct {
	data        []byte
	etag        string
	digest      string
	notModified bool
}

// fetch GETs a bundle. With etag set the request is conditional (If-None-Match), and a 304 answer
// means the bundle in force is still current.
func fetch(ctx context.Context, client *http.Client, rawURL, etag string, max int64) (*download, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "gatehouse")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return &download{etag: etag, notModified: true}, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("GET %s: %s", redactURL(rawURL), resp.Status)
	}
	data, err := readAll(resp.Body, max, redactURL(rawURL))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return &download{data: data, etag: resp.Header.Get("ETag"), digest: hex.EncodeToString(sum[:])}, nil
}

// newClient is the HTTP client bundles are fetched with unless the caller gives one: bounded in time,
// so a stalled bundle server delays a reload, never the poll loop forever.
func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second}
}

// redactURL drops credentials from a URL before it is logged or put in an error.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// checkURL accepts only absolute http and https URLs.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bundle URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bundle URL %s must be an http:// or https:// URL", redactURL(raw))
	}
	return nil
}
