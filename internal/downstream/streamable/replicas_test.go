package streamable

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

var testReplicaKey = []byte("0123456789abcdef0123456789abcdef")

func testReplicas(name string, peers map[string]*url.URL) *Replicas {
	return &Replicas{Name: name, Key: testReplicaKey, Peers: peers}
}

func TestReplicaSessionIDs(t *testing.T) {
	a := testReplicas("gw-0", nil)
	id := a.newSessionID()
	if owner, ok := a.Owner(id); !ok || owner != "gw-0" {
		t.Fatalf("Owner(%q) = %q, %v", id, owner, ok)
	}
	if other := a.newSessionID(); other == id {
		t.Fatal("two sessions got one id")
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("id %q is not visible ASCII", id)
		}
	}
	name, random, _ := strings.Cut(id, ".")
	random, sum, _ := strings.Cut(random, ".")
	flip := func(s string) string { // another character of the same alphabet at the start
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	otherKey := &Replicas{Name: "gw-0", Key: []byte("another key of thirty-two bytes!")}
	for _, bad := range []string{
		"", rand.Text(), "gw-0", "gw-0." + random, id + ".x", "." + random + "." + sum,
		"gw-1." + random + "." + sum,          // another replica's name under this MAC
		name + "." + flip(random) + "." + sum, // another session
		name + "." + random + "." + flip(sum),
		name + "." + random[1:] + "." + sum,
		"GW-0." + random + "." + sum,
		otherKey.newSessionID(), // a key the replicas do not share
	} {
		if owner, ok := a.Owner(bad); ok {
			t.Errorf("Owner(%q) = %q, want no owner", bad, owner)
		}
	}
	// The MAC's last character carries two spare bits: only the canonical spelling is accepted.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sum[len(sum)-1])
	for spare := 1; spare < 4; spare++ {
		other := name + "." + random + "." + sum[:len(sum)-1] + string(alphabet[last^spare])
		if _, ok := a.Owner(other); ok {
			t.Errorf("a second spelling of the MAC is accepted: %q", other)
		}
	}
}

func TestReplicaNames(t *testing.T) {
	for _, ok := range []string{"a", "gw-gatehouse-0", "0", strings.Repeat("a", 63)} {
		if !ValidReplicaName(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a.b", "a_b", "a b", strings.Repeat("a", 64), "é"} {
		if ValidReplicaName(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	peer, _ := url.Parse("http://127.0.0.1:1")
	for _, c := range []struct {
		r    *Replicas
		want string
	}{
		{&Replicas{Name: "a", Key: testReplicaKey, Peers: map[string]*url.URL{"b": peer}}, ""},
		{&Replicas{Name: "A", Key: testReplicaKey}, "not a DNS label"},
		{&Replicas{Name: "a", Key: testReplicaKey[:31]}, "at least 32"},
		{&Replicas{Name: "a", Key: testReplicaKey, Peers: map[string]*url.URL{"b_": peer}}, "peer name"},
		{&Replicas{Name: "a", Key: testReplicaKey, Peers: map[string]*url.URL{"b": {Scheme: "ftp", Host: "x"}}}, "http or https"},
	} {
		err := c.r.Check()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%s) = %v, want %q", c.r.Name, err, c.want)
		}
	}
}

func TestForwardSignature(t *testing.T) {
	peers := map[string]*url.URL{"a": {Scheme: "http", Host: "a:8080"}, "b": {Scheme: "http", Host: "b:8080"}}
	a, b := testReplicas("a", peers), testReplicas("b", peers)
	now := time.Unix(1_800_000_000, 0)
	v := b.sign("POST", "sess", "192.0.2.7", now)
	if client, err := a.verify(v, "POST", "sess", now.Add(time.Minute)); err != nil || client != "192.0.2.7" {
		t.Fatalf("verify = %q, %v", client, err)
	}
	if client, err := a.verify(b.sign("GET", "s", "fe80::1%eth0", now), "GET", "s", now); err != nil || client != "fe80::1" {
		t.Errorf("an IPv6 client with a zone: %q, %v", client, err)
	}
	if client, err := a.verify(b.sign("GET", "s", "@", now), "GET", "s", now); err != nil || client != "-" {
		t.Errorf("a client that is not an IP address: %q, %v", client, err)
	}
	stranger := testReplicas("c", peers) // holds the key, but no replica lists it
	outsider := &Replicas{Name: "b", Key: []byte("another key of thirty-two bytes!"), Peers: peers}
	for _, c := range []struct{ name, value, method, session string }{
		{"another method", v, "DELETE", "sess"},
		{"another session", v, "POST", "sess2"},
		{"from itself", a.sign("POST", "sess", "192.0.2.7", now), "POST", "sess"},
		{"from a replica not listed", stranger.sign("POST", "sess", "192.0.2.7", now), "POST", "sess"},
		{"under another key", outsider.sign("POST", "sess", "192.0.2.7", now), "POST", "sess"},
		{"too old", b.sign("POST", "sess", "192.0.2.7", now.Add(-3*time.Minute)), "POST", "sess"},
		{"from the future", b.sign("POST", "sess", "192.0.2.7", now.Add(3*time.Minute)), "POST", "sess"},
		{"another client", strings.Replace(v, "192.0.2.7", "192.0.2.8", 1), "POST", "sess"},
		{"another version", strings.Replace(v, "v1", "v2", 1), "POST", "sess"},
		{"a field short", v[:strings.LastIndexByte(v, ' ')], "POST", "sess"},
		{"a bad address", strings.Replace(b.sign("POST", "sess", "@", now), " - ", " x ", 1), "POST", "sess"},
		{"empty", "", "POST", "sess"},
	} {
		if client, err := a.verify(c.value, c.method, c.session, now); err == nil {
			t.Errorf("%s: accepted (client %q)", c.name, client)
		}
	}
}

// FuzzReplicaSessionID: Owner never panics, and accepts only the ids a replica holding the key
// would mint, spelled as it mints them.
func FuzzReplicaSessionID(f *testing.F) {
	r := testReplicas("gw-0", nil)
	f.Add(r.newSessionID())
	f.Add(rand.Text())
	f.Add("gw-0..")
	f.Add("a.AAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, id string) {
		owner, ok := r.Owner(id)
		if !ok {
			return
		}
		name, rest, _ := strings.Cut(id, ".")
		random, _, _ := strings.Cut(rest, ".")
		body := name + "." + random
		if owner != name || id != body+"."+b64.EncodeToString(r.mac("gatehouse-session", body)[:sessionMACLen]) {
			t.Fatalf("Owner(%q) = %q: not an id this key mints", id, owner)
		}
	})
}

// FuzzForwardedHeader: verify never panics, and accepts only what a listed peer signed.
func FuzzForwardedHeader(f *testing.F) {
	peers := map[string]*url.URL{"a": {Scheme: "http", Host: "a"}, "b": {Scheme: "http", Host: "b"}}
	a, b := testReplicas("a", peers), testReplicas("b", peers)
	now := time.Unix(1_800_000_000, 0)
	f.Add(b.sign("POST", "s", "192.0.2.1", now), "POST", "s")
	f.Add("v1 b 1800000000 - x", "GET", "")
	f.Add("v1 b 1800000000 ::1 AAAA", "DELETE", "s")
	f.Fuzz(func(t *testing.T, value, method, session string) {
		client, err := a.verify(value, method, session, now)
		if err != nil {
			return
		}
		f := strings.Split(value, " ")
		if f[1] != "b" || value != "v1 b "+f[2]+" "+client+" "+b64.EncodeToString(b.mac("gatehouse-forward", "b", f[2], client, method, session)) {
			t.Fatalf("verify(%q) accepted what b did not sign", value)
		}
	})
}

// recordingBackend is a fakeBackend that also keeps the headers of the exchanges it sees.
type recordingBackend struct {
	fakeBackend
	headers []http.Header
}

func (b *recordingBackend) Request(ctx context.Context, ex *Exchange, ans Answer) {
	b.mu.Lock()
	b.headers = append(b.headers, ex.Header.Clone())
	b.mu.Unlock()
	b.fakeBackend.Request(ctx, ex, ans)
}

func (b *recordingBackend) methods() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

// refusingAuth is whoAuth that refuses a request carrying X-Bad.
type refusingAuth struct{ whoAuth }

var errBadCredential = errors.New("bad credential")

func (a refusingAuth) Authenticate(ctx context.Context, r *http.Request) (*policy.Principal, string, error) {
	if r.Header.Get("X-Bad") != "" {
		return nil, "", errBadCredential
	}
	return a.whoAuth.Authenticate(ctx, r)
}

// replicaPair starts two handlers, a and b, that route sessions to each other; peers lists a third
// replica, c, whose address nothing listens on.
func replicaPair(t *testing.T) (a, b *httptest.Server, ha, hb *Handler, ba, bb *recordingBackend) {
	t.Helper()
	var handlers [2]http.Handler
	servers := [2]*httptest.Server{}
	for i := range servers {
		servers[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handlers[i].ServeHTTP(w, r) }))
		t.Cleanup(servers[i].Close)
	}
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneURL := &url.URL{Scheme: "http", Host: gone.Addr().String()}
	gone.Close()
	peers := map[string]*url.URL{"c": goneURL}
	for i, name := range []string{"a", "b"} {
		u, _ := url.Parse(servers[i].URL)
		peers[name] = u
	}
	backends := [2]*recordingBackend{{}, {}}
	hs := [2]*Handler{}
	for i, name := range []string{"a", "b"} {
		hs[i] = New(Config{Auth: refusingAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: true,
			Limits: jsonrpc.Limits{MaxBytes: 4096}, Replicas: testReplicas(name, peers)}, backends[i])
		handlers[i] = hs[i]
		t.Cleanup(hs[i].Close)
	}
	return servers[0], servers[1], hs[0], hs[1], backends[0], backends[1]
}

func TestSessionsMoveBetweenReplicas(t *testing.T) {
	a, b, ha, hb, ba, bb := replicaPair(t)
	resp, _ := do(t, a.URL, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": "alice"}})
	id := resp.Header.Get(upstream.HeaderSessionID)
	if owner, ok := ha.cfg.Replicas.Owner(id); resp.StatusCode != 200 || !ok || owner != "a" {
		t.Fatalf("initialize on a: %d, session %q (owner %q)", resp.StatusCode, id, owner)
	}
	as := func(who string, more ...string) map[string]string {
		h := map[string]string{"X-Who": who, upstream.HeaderSessionID: id}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = more[i+1]
		}
		return h
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}`

	resp, body := do(t, b.URL, reqSpec{body: call, headers: as("alice")})
	if resp.StatusCode != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("a call through b: %d %s", resp.StatusCode, body)
	}
	if got := ba.methods(); len(got) != 2 || got[1] != "tools/call" {
		t.Errorf("a's backend saw %v, want initialize then the call", got)
	}
	if got := bb.methods(); len(got) != 0 {
		t.Errorf("b's backend saw %v; b must only forward", got)
	}
	if n := hb.cfg.Replicas.Forwarded(); n != 1 {
		t.Errorf("b forwarded %d requests, want 1", n)
	}
	ba.mu.Lock()
	forwardedHeader := ba.headers[1].Get(HeaderForwarded)
	ba.mu.Unlock()
	if forwardedHeader != "" {
		t.Errorf("the backend saw the %s header %q", HeaderForwarded, forwardedHeader)
	}

	// A streamed answer, and a GET stream, arrive through b event by event.
	ba.mu.Lock()
	ba.stream = true
	ba.mu.Unlock()
	resp, body = do(t, b.URL, reqSpec{body: call, headers: as("alice")})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
		!strings.Contains(body, "notifications/progress") || !strings.Contains(body, `"ok":true`) {
		t.Errorf("a streamed answer through b: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.URL, nil)
	for k, v := range as("alice", "Accept", "text/event-stream") {
		req.Header.Set(k, v)
	}
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stream.Body)
	var event string
	for sc.Scan() && !strings.Contains(event, "list_changed") {
		event += sc.Text() + "\n"
	}
	cancel()
	stream.Body.Close()
	if stream.StatusCode != 200 || !strings.Contains(event, "notifications/tools/list_changed") {
		t.Errorf("a GET stream through b: %d %q", stream.StatusCode, event)
	}

	before := hb.cfg.Replicas.Forwarded()
	forged := strings.Split(id, ".")
	forged[1] = strings.Repeat("A", 26)
	for _, c := range []struct {
		name    string
		headers map[string]string
		status  int
		forward bool
	}{
		{"another caller, through b", as("mallory"), 404, true},
		{"a forged id", map[string]string{"X-Who": "alice", upstream.HeaderSessionID: strings.Join(forged, ".")}, 404, false},
		{"a session of a replica not listed", map[string]string{"X-Who": "alice", upstream.HeaderSessionID: testReplicas("d", nil).newSessionID()}, 404, false},
		{"a session of a replica that is gone", map[string]string{"X-Who": "alice", upstream.HeaderSessionID: testReplicas("c", nil).newSessionID()}, 404, true},
		{"an unauthenticated request", as("alice", "X-Bad", "1"), 401, false},
		{"a foreign Origin", as("alice", "Origin", "http://evil.example"), 403, false},
	} {
		n := len(ba.methods())
		resp, body := do(t, b.URL, reqSpec{body: call, headers: c.headers})
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		if got := len(ba.methods()); got != n {
			t.Errorf("%s: a's backend was reached", c.name)
		}
		if after := hb.cfg.Replicas.Forwarded(); (after > before) != c.forward {
			t.Errorf("%s: forwarded %v, want %v", c.name, after > before, c.forward)
		}
		before = hb.cfg.Replicas.Forwarded()
	}

	// A request a peer forwarded is never forwarded again: a holds no session of b's.
	bid := hb.cfg.Replicas.newSessionID()
	resp, _ = do(t, a.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice", upstream.HeaderSessionID: bid,
		HeaderForwarded: hb.cfg.Replicas.sign(http.MethodPost, bid, "127.0.0.1", time.Now())}})
	if resp.StatusCode != 404 || ha.cfg.Replicas.Forwarded() != 0 {
		t.Errorf("a forwarded request for b's session at a: %d, a forwarded %d", resp.StatusCode, ha.cfg.Replicas.Forwarded())
	}
	// A client's own Gatehouse-Forwarded header is not trusted, and does not reach the backend.
	resp, _ = do(t, a.URL, reqSpec{body: call, headers: as("alice", HeaderForwarded, "v1 b 0 192.0.2.1 AAAA", "Origin", "http://evil.example")})
	if resp.StatusCode != 403 {
		t.Errorf("a foreign Origin with a forged %s header: %d, want 403", HeaderForwarded, resp.StatusCode)
	}
	resp, _ = do(t, a.URL, reqSpec{body: call, headers: as("alice", HeaderForwarded, "v1 b 0 192.0.2.1 AAAA")})
	ba.mu.Lock()
	last := ba.headers[len(ba.headers)-1]
	ba.mu.Unlock()
	if resp.StatusCode != 200 || last.Get(HeaderForwarded) != "" {
		t.Errorf("a forged %s header: %d, the backend saw %q", HeaderForwarded, resp.StatusCode, last.Get(HeaderForwarded))
	}

	// DELETE through b ends the session on a.
	resp, _ = do(t, b.URL, reqSpec{method: http.MethodDelete, headers: as("alice")})
	if resp.StatusCode != 200 {
		t.Errorf("DELETE through b: %d", resp.StatusCode)
	}
	ba.mu.Lock()
	closed := append([]string(nil), ba.closed...)
	ba.mu.Unlock()
	if len(closed) != 1 || closed[0] != id {
		t.Errorf("a closed %v, want the session", closed)
	}
	if resp, _ := do(t, a.URL, reqSpec{body: call, headers: as("alice")}); resp.StatusCode != 404 {
		t.Errorf("a call on a after the DELETE through b: %d, want 404", resp.StatusCode)
	}
}

// TestForwardedStreamsEndAtShutdown: a GET stream forwarded through b ends when b's streams end,
// as b's own would.
func TestForwardedStreamsEndAtShutdown(t *testing.T) {
	a, b, _, hb, _, _ := replicaPair(t)
	resp, _ := do(t, a.URL, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": "alice"}})
	id := resp.Header.Get(upstream.HeaderSessionID)
	req, _ := http.NewRequest(http.MethodGet, b.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Who", "alice")
	req.Header.Set(upstream.HeaderSessionID, id)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan error, 1)
	go func() {
		defer wg.Done()
		_, err := io.Copy(io.Discard, stream.Body)
		done <- err
	}()
	hb.EndStreams()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarded stream did not end with b's EndStreams")
	}
	wg.Wait()
}
