package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// defaultTokenLifetime is assumed when a token response has no expires_in (RFC 6749 §5.1 lets
	// the server leave it out): short, so an unknown lifetime is not trusted for long.
	defaultTokenLifetime = 5 * time.Minute
	// maxRefreshMargin is how long before expiry a token is replaced at most; shorter-lived tokens
	// are replaced when a tenth of their lifetime is left.
	maxRefreshMargin = 30 * time.Second
	// failureBackoff is how long a failed token request is answered from memory, so that a down
	// token endpoint sees one request per second, not one per upstream call.
	failureBackoff = time.Second
	// maxTokenResponse bounds a token endpoint's answer.
	maxTokenResponse    = 1 << 20
	defaultTokenTimeout = 10 * time.Second
)

// clientCredentials obtains and caches an access token with the client credentials grant.
type clientCredentials struct {
	cfg    ClientCredentialsConfig
	secret string
	prefix string
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu        sync.Mutex
	token     string
	refreshAt time.Time // when to request a new token
	expiresAt time.Time // when the token stops working
	inflight  *flight
	failedAt  time.Time
	lastErr   error
}

func newClientCredentials(cfg ClientCredentialsConfig, prefix string, opts *Options) (*clientCredentials, error) {
	c := &clientCredentials{cfg: cfg, prefix: prefix, client: opts.HTTPClient, now: opts.Now, log: opts.Logger}
	if c.cfg.Timeout == 0 {
		c.cfg.Timeout = defaultTokenTimeout
	}
	if c.client == nil {
		c.client = newHTTPClient(c.cfg.Timeout)
	}
	if cfg.ClientSecretEnv != "" {
		c.secret = opts.Getenv(cfg.ClientSecretEnv)
		if c.secret == "" {
			return nil, fmt.Errorf("environment variable %s is empty or not set", cfg.ClientSecretEnv)
		}
	} else {
		data, err := os.ReadFile(cfg.ClientSecretFile)
		if err != nil {
			return nil, err
		}
		c.secret = string(bytes.TrimRight(data, "\r\n"))
		if c.secret == "" {
			return nil, fmt.Errorf("%s is empty", cfg.ClientSecretFile)
		}
	}
	return c, nil
}

// headerValue returns prefix + a current access token, requesting one when there is none or the
// one held is about to expire.
func (c *clientCredentials) headerValue(ctx context.Context) (string, error) {
	now := c.now()
	c.mu.Lock()
	if c.token != "" && now.Before(c.refreshAt) {
		t := c.token
		c.mu.Unlock()
		return c.prefix + t, nil
	}
	f := c.inflight
	if f == nil {
		if !c.failedAt.IsZero() && now.Sub(c.failedAt) < failureBackoff {
			err := c.lastErr
			t, exp := c.token, c.expiresAt
			c.mu.Unlock()
			if t != "" && now.Before(exp) {
				return c.prefix + t, nil
			}
			return "", err
		}
		f = &flight{done: make(chan struct{})}
		c.inflight = f
		go c.fetch(f)
	}
	c.mu.Unlock()
	err := f.wait(ctx)
	c.mu.Lock()
	t, exp := c.token, c.expiresAt
	c.mu.Unlock()
	if err != nil {
		// The old token, if it has not expired yet, is better than nothing.
		if t != "" && c.now().Before(exp) {
			return c.prefix + t, nil
		}
		return "", err
	}
	return c.prefix + t, nil
}

// invalidate drops the token if header (the value a rejected request carried) still holds it.
func (c *clientCredentials) invalidate(header string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && header == c.prefix+c.token {
		c.token, c.refreshAt, c.expiresAt = "", time.Time{}, time.Time{}
	}
}

func (c *clientCredentials) fetch(f *flight) {
	started := c.now()
	token, lifetime, err := c.request()
	c.mu.Lock()
	if err == nil {
		margin := min(maxRefreshMargin, lifetime/10)
		c.token, c.expiresAt, c.refreshAt = token, started.Add(lifetime), started.Add(lifetime-margin)
		c.failedAt, c.lastErr = time.Time{}, nil
	} else {
		c.failedAt, c.lastErr = c.now(), err
	}
	f.err = err
	c.inflight = nil
	c.mu.Unlock()
	close(f.done)
	if err != nil {
		c.log.Warn("auth: upstream token request failed", "token_url", c.cfg.TokenURL, "client_id", c.cfg.ClientID, "error", err)
	}
}

// request performs one token request.
func (c *clientCredentials) request() (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(c.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(c.cfg.Scopes, " "))
	}
	if c.cfg.Audience != "" {
		form.Set("audience", c.cfg.Audience)
	}
	if c.cfg.Resource != "" {
		form.Set("resource", c.cfg.Resource)
	}
	if c.cfg.AuthMethod == "client_secret_post" {
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_secret", c.secret)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.cfg.AuthMethod != "client_secret_post" {
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.secret))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return "", 0, err
	}
	if len(body) > maxTokenResponse {
		return "", 0, fmt.Errorf("token response is larger than %d bytes", maxTokenResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &oe)
		return "", 0, fmt.Errorf("token endpoint answered %s: %.100s %.200s", resp.Status, oe.Error, oe.Description)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", 0, fmt.Errorf("token response is not JSON: %w", err)
	}
	if tr.AccessToken == "" || strings.ContainsAny(tr.AccessToken, "\r\n ") {
		return "", 0, errors.New("token response has no usable access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, fmt.Errorf("token type %.20q is not Bearer", tr.TokenType)
	}
	lifetime := defaultTokenLifetime
	if len(tr.ExpiresIn) > 0 && string(tr.ExpiresIn) != "null" {
		// A number, or (from some servers) a number in a string.
		s := strings.Trim(string(tr.ExpiresIn), `"`)
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || secs <= 0 || secs > 366*24*3600 {
			return "", 0, fmt.Errorf("expires_in %.20s is not a positive number of seconds", tr.ExpiresIn)
		}
		lifetime = time.Duration(secs * float64(time.Second))
	}
	return tr.AccessToken, lifetime, nil
}
