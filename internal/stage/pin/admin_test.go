package pin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAdminApprovesOnlyTheReviewedDigest(t *testing.T) {
	ctx := context.Background()
	p, _ := New(Config{})
	def := map[string]any{"name": "echo", "description": "v1"}
	p.Observe(ctx, "peer", def)
	def["description"] = "v2"
	p.Observe(ctx, "peer", def)
	var audited []Approval
	var fail error
	a := &Admin{Pins: p, Logger: slog.New(slog.DiscardHandler), Record: func(_ context.Context, ap Approval) error {
		if fail != nil {
			return fail
		}
		audited = append(audited, ap)
		return nil
	}}
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := do("GET", "/admin/v1/pins/peer/echo", "")
	if st != 200 || !strings.Contains(body, `"quarantined":true`) {
		t.Fatalf("GET: %d %s", st, body)
	}
	rec, _, _ := p.Status(ctx, "peer", "echo")
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{}`, 400}, {`{"digest":"sha256:other"}`, 409}, {`{"digest":"x","extra":1}`, 400},
	} {
		if st, b := do("POST", "/admin/v1/pins/peer/echo/approve", c.body); st != c.status {
			t.Errorf("approve %s: %d %s, want %d", c.body, st, b, c.status)
		}
	}
	if st, _ := do("POST", "/admin/v1/pins/peer/nothing/approve", `{"digest":"x"}`); st != 404 {
		t.Errorf("approving an unknown tool: %d", st)
	}
	fail = errors.New("audit down")
	if st, _ := do("POST", "/admin/v1/pins/peer/echo/approve", `{"digest":"`+rec.Seen+`"}`); st != 503 {
		t.Errorf("approval with the audit log down: %d, want 503", st)
	}
	if r, _, _ := p.Status(ctx, "peer", "echo"); !r.Quarantined() {
		t.Error("an approval that could not be audited stands")
	}
	fail = nil
	if st, b := do("POST", "/admin/v1/pins/peer/echo/approve", `{"digest":"`+rec.Seen+`"}`); st != 200 {
		t.Fatalf("approve: %d %s", st, b)
	}
	if r, _, _ := p.Status(ctx, "peer", "echo"); r.Quarantined() || len(audited) != 1 || audited[0].Before.Seen != rec.Seen {
		t.Errorf("after approval: %+v, audited %+v", r, audited)
	}
}
