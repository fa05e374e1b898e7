package approval

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/state"
	"github.com/gatehouse-mcp/gatehouse/internal/webhook"
)

func adminServer(t *testing.T, store state.ApprovalStore, record func(context.Context, Decision) error) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	(&Admin{Store: store, Record: record, Logger: quiet, Authenticated: true}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func pending(t *testing.T, store state.ApprovalStore, id string) {
	t.Helper()
	now := time.Now()
	if _, _, err := store.Hold(context.Background(), state.Approval{ID: id, Digest: strings.Repeat("a", 63) + id[len(id)-1:], Caller: "agent:a1",
		Method: "tools/call", Tool: "refund", Created: now, Expires: now.Add(time.Hour)}, state.PendingLimits{}); err != nil {
		t.Fatal(err)
	}
}

func TestAdminDecidesAndAuditsFirst(t *testing.T) {
	store := state.NewMemory(nil)
	pending(t, store, "apr_1")
	pending(t, store, "apr_2")
	var mu sync.Mutex
	var recorded []Decision
	failing := atomic.Bool{}
	srv := adminServer(t, store, func(_ context.Context, d Decision) error {
		if failing.Load() {
			return errors.New("disk full")
		}
		// The decision is recorded before it takes effect.
		if a, _ := store.Approval(context.Background(), d.Approval.ID); d.Applied && a.Status != state.ApprovalPending {
			t.Errorf("recorded after the decision took effect: %s", a.Status)
		}
		mu.Lock()
		recorded = append(recorded, d)
		mu.Unlock()
		return nil
	})

	resp, err := http.Get(srv.URL + "/admin/v1/approvals?status=pending")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Approvals []state.Approval }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Approvals) != 2 || list.Approvals[0].ID != "apr_1" {
		t.Fatalf("list = %+v", list.Approvals)
	}

	if code, out := post(t, srv.URL+"/admin/v1/approvals/approve", `{"id":"apr_1","approver":"alice","note":"ok"}`); code != 200 || out["status"] != "approved" || out["approver"] != "alice" {
		t.Fatalf("approve: %d %v", code, out)
	}
	if code, out := post(t, srv.URL+"/admin/v1/approvals/deny", `{"id":"apr_1","approver":"bob"}`); code != 409 || !strings.Contains(out["error"].(string), "approved") {
		t.Errorf("deny of an approved approval: %d %v", code, out)
	}
	if code, _ := post(t, srv.URL+"/admin/v1/approvals/approve", `{"id":"apr_nope","approver":"alice"}`); code != 404 {
		t.Errorf("unknown approval: %d", code)
	}
	for _, bad := range []string{`{"id":"apr_2"}`, `{"id":"apr_2","approver":"  "}`, `{"id":"apr_2","approver":"a\u001b[31m"}`, `{"id":"apr_2","approver":"a","extra":1}`, `{"approver":"a"}`} {
		if code, _ := post(t, srv.URL+"/admin/v1/approvals/approve", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	failing.Store(true)
	if code, _ := post(t, srv.URL+"/admin/v1/approvals/deny", `{"id":"apr_2","approver":"bob"}`); code != 503 {
		t.Errorf("unaudited deny: %d, want 503", code)
	}
	if a, _ := store.Approval(context.Background(), "apr_2"); a.Status != state.ApprovalPending {
		t.Errorf("a decision that could not be audited took effect: %s", a.Status)
	}
	failing.Store(false)
	if code, out := post(t, srv.URL+"/admin/v1/approvals/deny", `{"id":"apr_2","approver":"bob","note":"no"}`); code != 200 || out["status"] != "denied" {
		t.Errorf("deny: %d %v", code, out)
	}
	resp, _ = http.Get(srv.URL + "/admin/v1/approvals/apr_2")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"note":"no"`) {
		t.Errorf("get: %d %s", resp.StatusCode, body)
	}
	if resp, _ := http.Get(srv.URL + "/admin/v1/approvals?status=bogus"); resp.StatusCode != 400 {
		t.Errorf("bad status filter: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recorded) != 2 || recorded[0].Action != "approve" || recorded[0].Approver != "alice" || recorded[1].Action != "deny" || recorded[1].Note != "no" {
		t.Errorf("recorded = %+v", recorded)
	}
}

// Without the admin token, approvals are listed but not decided.
func TestAdminWithoutTokenCannotDecide(t *testing.T) {
	store := state.NewMemory(nil)
	pending(t, store, "apr_1")
	mux := http.NewServeMux()
	(&Admin{Store: store, Record: func(context.Context, Decision) error { return nil }, Logger: quiet}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if code, out := post(t, srv.URL+"/admin/v1/approvals/approve", `{"id":"apr_1","approver":"x"}`); code != 403 || !strings.Contains(out["error"].(string), "token_sha256") {
		t.Errorf("approve without a token: %d %v", code, out)
	}
	if a, _ := store.Approval(context.Background(), "apr_1"); a.Status != state.ApprovalPending {
		t.Errorf("decided without a token: %s", a.Status)
	}
}

func TestWebhookSignsAndRetries(t *testing.T) {
	secret := []byte("s3cret")
	var mu sync.Mutex
	var got []string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusBadGateway) // retried
			return
		}
		ts := r.Header.Get("Gatehouse-Timestamp")
		if r.Header.Get("Gatehouse-Signature") != "sha256="+webhook.Sign(secret, ts, body) || r.Header.Get("Gatehouse-Event") != "approval.pending" {
			t.Errorf("bad signature or event: %v", r.Header)
		}
		got = append(got, string(body))
		if strings.Contains(string(body), "whole call") {
			t.Errorf("the webhook carries the whole call: %s", body)
		}
		if strings.Contains(string(body), "apr_bad") {
			w.WriteHeader(http.StatusBadRequest) // not retried
		}
	}))
	defer srv.Close()
	hook := NewWebhook(srv.URL, secret, time.Second, quiet)
	hook.backup = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hook.Run(ctx)
	hook.Notify(state.Approval{ID: "apr_1", Tool: "refund", Arguments: `{"amount":900}`, Params: `{"secret-ish":"whole call"}`})
	hook.Notify(state.Approval{ID: "apr_bad"})
	hook.Notify(state.Approval{ID: "apr_3"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n, c := len(got), calls
		mu.Unlock()
		if n == 3 {
			if c != 4 {
				t.Errorf("%d deliveries for 3 holds and one 502, want 4 (a 400 is not retried)", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 3", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var first struct {
		Event    string
		Approval state.Approval
	}
	if err := json.Unmarshal([]byte(got[0]), &first); err != nil || first.Event != "approval.pending" || first.Approval.ID != "apr_1" || first.Approval.Tool != "refund" {
		t.Errorf("first delivery %s: %v", got[0], err)
	}
}
