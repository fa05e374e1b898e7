// Package webhook posts gatehouse's deliveries to a URL an operator configured: the announcement of
// a new hold (SPEC §10.3) and the audit log's records for a SIEM (§12.5). Every delivery carries
// Gatehouse-Event and Gatehouse-Timestamp (Unix seconds) and, when a secret is configured,
// Gatehouse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">, so a receiver can prove the
// sender and refuse a replayed delivery by its age. Redirects are never followed: a redirect would
// carry the delivery, and any credential header with it, to a host nobody configured.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The headers gatehouse sets on every delivery.
const (
	HeaderEvent     = "Gatehouse-Event"
	HeaderTimestamp = "Gatehouse-Timestamp"
	HeaderSignature = "Gatehouse-Signature"
)

// Client returns an HTTP client for deliveries: each attempt bounded by timeout, redirects answered
// as they are (a 3xx is a final failure of the attempt).
func Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Delivery is one POST.
type Delivery struct {
	URL         string
	Event       string // Gatehouse-Event
	ContentType string
	Body        []byte
	// Secret signs the delivery when it is not empty.
	Secret []byte
	// Header holds further headers, e.g. a receiver's Authorization; gatehouse's own headers and
	// Content-Type win over any of the same name.
	Header http.Header
}

// FinalError is a failure not worth retrying: a request that cannot be made, or an answer 3xx or
// 4xx other than 408 and 429. Any other error of Post may succeed if tried again.
type FinalError struct{ Err error }

// StatusError is an answer other than 2xx; Post returns it wrapped in a FinalError when it is final
// by the rule above, so a caller with its own rule can read the status.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("answered %d", e.Code) }

func (e *FinalError) Error() string { return e.Err.Error() }
func (e *FinalError) Unwrap() error { return e.Err }

// Final reports whether err says a retry would fail the same way.
func Final(err error) bool {
	var f *FinalError
	return errors.As(err, &f)
}

// Post makes one attempt at d, timestamped now. It returns nil for a 2xx answer.
func Post(ctx context.Context, c *http.Client, d Delivery, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return &FinalError{withoutURL(err)}
	}
	for k, vs := range d.Header {
		req.Header[k] = vs
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", d.ContentType)
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Del(HeaderSignature)
	if len(d.Secret) > 0 {
		req.Header.Set(HeaderSignature, "sha256="+Sign(d.Secret, ts, d.Body))
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST to %s: %w", req.URL.Host, withoutURL(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return &StatusError{code}
	default:
		return &FinalError{&StatusError{code}}
	}
}

// withoutURL is err without the URL a *url.Error spells out: the URL's path or query may hold the
// receiver's token, and errors end up in logs.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Sign is the hex HMAC-SHA256 a delivery is signed with: over the timestamp, a '.', and the body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
