package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPostSignsAndClassifies(t *testing.T) {
	var got *http.Request
	var body []byte
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, nil
		body, _ = io.ReadAll(r.Body)
		if status == http.StatusFound {
			w.Header().Set("Location", "http://elsewhere.example/")
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	d := Delivery{URL: srv.URL, Event: "audit.records", ContentType: "application/x-ndjson", Body: []byte("{\"a\":1}\n"),
		Secret: []byte("k3y"), Header: http.Header{"Authorization": {"Splunk t0ken"}, HeaderSignature: {"forged"}, "Content-Type": {"text/plain"}}}
	if err := Post(context.Background(), Client(time.Second), d, now); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Content-Type": "application/x-ndjson", HeaderEvent: "audit.records", HeaderTimestamp: "1800000000",
		HeaderSignature: "sha256=" + Sign([]byte("k3y"), "1800000000", d.Body), "Authorization": "Splunk t0ken",
	} {
		if v := got.Header.Values(h); len(v) != 1 || v[0] != want {
			t.Errorf("%s: %q, want exactly %q", h, v, want)
		}
	}
	if string(body) != string(d.Body) {
		t.Errorf("body %q, want %q", body, d.Body)
	}
	// Without a secret no signature is sent, not even one the caller put in Header.
	d.Secret = nil
	if err := Post(context.Background(), Client(time.Second), d, now); err != nil || got.Header.Get(HeaderSignature) != "" {
		t.Errorf("unsigned delivery: err %v, signature %q", err, got.Header.Get(HeaderSignature))
	}

	for _, c := range []struct {
		status int
		final  bool
	}{{500, false}, {503, false}, {429, false}, {408, false}, {400, true}, {401, true}, {404, true}, {http.StatusFound, true}} {
		status = c.status
		err := Post(context.Background(), Client(time.Second), d, now)
		if err == nil || Final(err) != c.final {
			t.Errorf("answered %d: err %v, final %v, want an error, final %v", c.status, err, Final(err), c.final)
		}
	}
	if err := Post(context.Background(), Client(time.Second), Delivery{URL: "http://[::1"}, now); !Final(err) {
		t.Errorf("a URL that cannot be requested: %v, want a final error", err)
	}
	srv.Close()
	d.URL = srv.URL + "/in/s3cr3t-path?sig=0a1b2c"
	err := Post(context.Background(), Client(time.Second), d, now)
	if err == nil || Final(err) {
		t.Errorf("a receiver that is down: %v, want an error worth retrying", err)
	}
	// Errors end up in logs: they name the host, never the path or query that may hold a token.
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "0a1b2c") || !strings.Contains(msg, strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("the error %q spells out the URL, or does not name the host", msg)
	}
}
