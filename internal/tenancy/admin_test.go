package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-mcp/gatehouse/internal/adminapi"
)

type adminHarness struct {
	srv     *httptest.Server
	lists   *Allowlists
	path    string
	changes []Change
	fail    error
}

func newAdmin(t *testing.T) *adminHarness {
	t.Helper()
	h := &adminHarness{path: filepath.Join(t.TempDir(), "engagements.json")}
	lists, err := Open(h.path, nil, map[string][]string{"acme": {"fs.read"}})
	if err != nil {
		t.Fatal(err)
	}
	h.lists = lists
	a := &Admin{Lists: lists, Logger: slog.New(slog.DiscardHandler), Record: func(_ context.Context, c Change) error {
		if h.fail != nil {
			return h.fail
		}
		h.changes = append(h.changes, c)
		return nil
	}}
	mux := http.NewServeMux()
	a.Register(mux)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *adminHarness) do(t *testing.T, method, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func tools(v map[string]any) []string {
	var out []string
	for _, t := range v["tools"].([]any) {
		out = append(out, t.(string))
	}
	return out
}

func TestAdminReadAndChange(t *testing.T) {
	h := newAdmin(t)
	const p = "/admin/v1/engagements/acme/allowlist"
	st, v := h.do(t, "GET", p, "", "")
	if st != 200 || v["origin"] != "config" || strings.Join(tools(v), ",") != "fs.read" {
		t.Fatalf("GET = %d %v", st, v)
	}
	st, v = h.do(t, "GET", "/admin/v1/engagements/newco/allowlist", "", "")
	if st != 200 || v["origin"] != "default" || len(tools(v)) != 5 {
		t.Fatalf("GET of an unconfigured engagement = %d %v", st, v)
	}
	st, v = h.do(t, "PUT", p, "application/json", `{"tools":["fs.read","fs.list","fs.list"]}`)
	if st != 200 || strings.Join(tools(v), ",") != "fs.read,fs.list" || v["origin"] != "admin" {
		t.Fatalf("PUT = %d %v", st, v)
	}
	st, v = h.do(t, "PATCH", p, "application/json; charset=utf-8", `{"add":["crm.*"],"remove":["fs.read"]}`)
	if st != 200 || strings.Join(tools(v), ",") != "fs.list,crm.*" {
		t.Fatalf("PATCH = %d %v", st, v)
	}
	if !h.lists.Allowed("acme", "crm.lookup") || h.lists.Allowed("acme", "fs.read") {
		t.Error("the change did not take effect")
	}
	if len(h.changes) != 2 || h.changes[1].Action != "patch" || strings.Join(h.changes[1].Before.Tools, ",") != "fs.read,fs.list" {
		t.Errorf("audited changes: %+v", h.changes)
	}
	reopened, err := Open(h.path, nil, map[string][]string{"acme": {"fs.read"}})
	if err != nil || !reopened.Allowed("acme", "crm.lookup") {
		t.Errorf("the change did not persist: %v", err)
	}
	st, v = h.do(t, "GET", "/admin/v1/engagements", "", "")
	if st != 200 || len(v["engagements"].([]any)) != 1 {
		t.Errorf("list = %d %v", st, v)
	}
}

func TestAdminRefusesBadRequests(t *testing.T) {
	h := newAdmin(t)
	const p = "/admin/v1/engagements/acme/allowlist"
	for _, c := range []struct {
		name, method, path, ct, body string
		status                       int
	}{
		{"bad id", "PUT", "/admin/v1/engagements/..x/allowlist", "application/json", `{"tools":[]}`, 400},
		{"bad id on GET", "GET", "/admin/v1/engagements/%2e%2e/allowlist", "", "", 400},
		{"no content type", "PUT", p, "", `{"tools":[]}`, 415},
		{"form content type", "PUT", p, "application/x-www-form-urlencoded", `{"tools":[]}`, 415},
		{"unknown member", "PUT", p, "application/json", `{"tools":[],"admin":true}`, 400},
		{"duplicate member", "PUT", p, "application/json", `{"tools":["a"],"tools":["fs.read"]}`, 400},
		{"missing tools", "PUT", p, "application/json", `{}`, 400},
		{"tools not a list", "PUT", p, "application/json", `{"tools":"fs.read"}`, 400},
		{"trailing data", "PUT", p, "application/json", `{"tools":[]} {}`, 400},
		{"invalid glob", "PUT", p, "application/json", `{"tools":["[x"]}`, 400},
		{"space in a tool", "PUT", p, "application/json", `{"tools":["a b"]}`, 400},
		{"empty patch", "PATCH", p, "application/json", `{}`, 400},
		{"invalid add", "PATCH", p, "application/json", `{"add":[""]}`, 400},
		{"too large", "PUT", p, "application/json", `{"tools":["` + strings.Repeat("a", adminapi.MaxBody) + `"]}`, 413},
		{"method", "DELETE", p, "", "", 405},
	} {
		if st, v := h.do(t, c.method, c.path, c.ct, c.body); st != c.status {
			t.Errorf("%s: status %d (%v), want %d", c.name, st, v, c.status)
		}
	}
	if len(h.changes) != 0 || h.lists.Get("acme").Origin != OriginConfig {
		t.Errorf("a refused request changed something: %+v", h.changes)
	}
}

func TestAdminUndoesAChangeThatCannotBeAudited(t *testing.T) {
	h := newAdmin(t)
	h.fail = errors.New("audit log unavailable")
	st, _ := h.do(t, "PUT", "/admin/v1/engagements/acme/allowlist", "application/json", `{"tools":["everything.*"]}`)
	if st != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", st)
	}
	if h.lists.Allowed("acme", "everything.x") || h.lists.Get("acme").Origin != OriginConfig {
		t.Error("an unaudited change stands")
	}
	reopened, _ := Open(h.path, nil, map[string][]string{"acme": {"fs.read"}})
	if reopened.Allowed("acme", "everything.x") {
		t.Error("an unaudited change persisted")
	}
}

// A change to one engagement's allowlist through the admin API leaves every other engagement's as it
// was: the configured one, the default one, and one another admin change set.
func TestAdminChangeStaysInItsEngagement(t *testing.T) {
	h := newAdmin(t)
	get := func(id string) (string, string) {
		st, v := h.do(t, "GET", "/admin/v1/engagements/"+id+"/allowlist", "", "")
		if st != 200 {
			t.Fatalf("GET %s = %d %v", id, st, v)
		}
		return strings.Join(tools(v), ","), v["origin"].(string)
	}
	if st, v := h.do(t, "PUT", "/admin/v1/engagements/globex/allowlist", "application/json", `{"tools":["crm.lookup"]}`); st != 200 {
		t.Fatalf("PUT globex = %d %v", st, v)
	}
	before := map[string][2]string{}
	for _, id := range []string{"acme", "globex", "initech"} {
		tl, o := get(id)
		before[id] = [2]string{tl, o}
	}
	for _, c := range []struct{ id, method, body string }{
		{"umbrella", "PATCH", `{"remove":["fs.read","fs.write"]}`}, // from the default list, which others share
		{"hooli", "PUT", `{"tools":["github.*"]}`},
		{"hooli", "PATCH", `{"add":["fs.write"],"remove":["fs.read"]}`},
	} {
		if st, v := h.do(t, c.method, "/admin/v1/engagements/"+c.id+"/allowlist", "application/json", c.body); st != 200 {
			t.Fatalf("%s %s = %d %v", c.method, c.id, st, v)
		}
		for id, want := range before {
			if tl, o := get(id); tl != want[0] || o != want[1] {
				t.Errorf("after %s of %s, %s's allowlist is %q (%s), want %q (%s)", c.method, c.id, id, tl, o, want[0], want[1])
			}
		}
	}
	if tl, _ := get("hooli"); tl != "github.*,fs.write" {
		t.Errorf("hooli's allowlist is %q, want github.*,fs.write", tl)
	}
	if tl, _ := get("umbrella"); tl != "fs.list,search.vector,search.semantic" {
		t.Errorf("umbrella's allowlist is %q, want the default without fs.read and fs.write", tl)
	}
	if h.lists.Allowed("acme", "github.create_issue") || h.lists.Allowed("globex", "fs.write") || h.lists.Allowed("initech", "github.create_issue") {
		t.Error("hooli's tools are allowed to another engagement")
	}
	reopened, err := Open(h.path, nil, map[string][]string{"acme": {"fs.read"}})
	if err != nil || reopened.Allowed("acme", "github.x") || !reopened.Allowed("globex", "crm.lookup") || !reopened.Allowed("initech", "fs.read") {
		t.Errorf("after reopening, a change leaked or another engagement's was lost: %v", err)
	}
}
