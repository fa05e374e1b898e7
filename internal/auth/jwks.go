package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// jwksSource keeps the key set of a JWKS URL. Three things make it fetch:
//
//   - there is no usable set yet (the first token, or the last good set is too old);
//   - the set is older than the refresh interval (a background fetch; tokens keep being verified
//     with the current set meanwhile);
//   - a token names a kid the set lacks (the identity provider may have rotated its keys).
//
// Whatever the trigger, fetches are at least minInterval apart and never concurrent, so a flood of
// tokens with random kids costs the identity provider one request per minInterval, not one per token.
type jwksSource struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	maxBytes    int64
	every       time.Duration // refresh interval
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger
	m           *metrics

	mu          sync.Mutex
	set         *keySet   // last good set; nil before the first success
	lastAttempt time.Time // start of the last fetch; zero if none yet
	lastErr     error     // outcome of the last fetch
	inflight    *flight
}

// flight is one fetch in progress; done is closed when it ends.
type flight struct {
	done chan struct{}
	err  error
}

var errRateLimited = errors.New("JWKS refresh skipped: the minimum refresh interval has not passed")

// current returns the key set to verify with. It starts a background refresh when the set is due
// for one, and waits for a fetch only when there is no usable set at all.
func (s *jwksSource) current(ctx context.Context) (*keySet, error) {
	now := s.now()
	s.mu.Lock()
	set := s.set
	usable := set != nil && now.Sub(set.fetched) < 2*s.every
	var f *flight
	if set == nil || now.Sub(set.fetched) >= s.every {
		f = s.startLocked(now)
	}
	lastErr := s.lastErr
	s.mu.Unlock()
	if usable {
		return set, nil
	}
	if f == nil {
		s.m.refresh(refreshRateLimited)
		if lastErr == nil {
			lastErr = errors.New("no key set yet")
		}
		return nil, fmt.Errorf("no usable JWKS (%w; last fetch: %v)", errRateLimited, lastErr)
	}
	if err := f.wait(ctx); err != nil {
		return nil, fmt.Errorf("no usable JWKS: %w", err)
	}
	s.mu.Lock()
	set = s.set
	s.mu.Unlock()
	return set, nil
}

// refreshForKid is called when a token names a kid that seen lacks. It returns a newer set if one
// appeared meanwhile or a fetch is allowed now (waiting for it); otherwise it returns seen and
// errRateLimited.
func (s *jwksSource) refreshForKid(ctx context.Context, seen *keySet) (*keySet, error) {
	now := s.now()
	s.mu.Lock()
	if s.set != nil && s.set != seen {
		set := s.set
		s.mu.Unlock()
		return set, nil
	}
	f := s.startLocked(now)
	s.mu.Unlock()
	if f == nil {
		s.m.refresh(refreshRateLimited)
		return seen, errRateLimited
	}
	if err := f.wait(ctx); err != nil {
		return seen, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set, nil
}

// startLocked joins the fetch in progress, or starts one if the rate limit allows, or returns nil.
// s.mu must be held.
func (s *jwksSource) startLocked(now time.Time) *flight {
	if s.inflight != nil {
		return s.inflight
	}
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minInterval {
		return nil
	}
	s.lastAttempt = now
	f := &flight{done: make(chan struct{})}
	s.inflight = f
	// The fetch runs on its own, not on the request that triggered it: that client hanging up must
	// not fail a fetch other requests are waiting for.
	go s.fetch(f, now)
	return f
}

func (s *jwksSource) fetch(f *flight, started time.Time) {
	keys, skipped, err := s.download()
	for _, sk := range skipped {
		s.log.Warn("auth: JWKS key skipped", "url", s.url, "error", sk)
	}
	// Counted and logged before the waiters are released, so that what they see is already
	// recorded.
	if err != nil {
		s.m.refresh(refreshError)
		s.log.Warn("auth: JWKS fetch failed; tokens are verified with the last good key set while it lasts, then refused",
			"url", s.url, "error", err)
	} else {
		s.m.refresh(refreshOK)
		s.log.Debug("auth: JWKS fetched", "url", s.url, "keys", len(keys))
	}
	s.mu.Lock()
	if err == nil {
		s.set = &keySet{keys: keys, fetched: started}
	}
	s.lastErr = err
	f.err = err
	s.inflight = nil
	s.mu.Unlock()
	close(f.done)
}

// download fetches and parses the JWKS, bounded in time and size.
func (s *jwksSource) download() ([]*verifyKey, []error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, nil, fmt.Errorf("JWKS URL answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(body)) > s.maxBytes {
		return nil, nil, fmt.Errorf("JWKS document is larger than %d bytes", s.maxBytes)
	}
	return parseJWKS(body)
}

// wait waits for the fetch to end or ctx to be done.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newHTTPClient is the client for the JWKS URL and token endpoints when the caller gives none: it
// follows at most three redirects and never from https to plain http (except on loopback), so a
// redirect cannot downgrade where keys or tokens come from.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if err := secureURL(req.URL.String()); err != nil {
				return fmt.Errorf("redirect refused: %w", err)
			}
			return nil
		},
	}
}
