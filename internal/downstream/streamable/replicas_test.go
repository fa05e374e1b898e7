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
		// Signed as sign never would: the address is checked after the MAC.
		{"a bad address", "v1 b 1800000000 x " + b64.EncodeToString(b.mac("gatehouse-forward", "b", "1800000000", "x", "POST", "sess")), "POST", "sess"},
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

// recordingBackend is a fakeBackend that also keeps the headers and client addresses of the
// exchanges it sees.
type recordingBackend struct {
	fakeBackend
	headers []http.Header
	clients []string
	// holdStreams keeps a GET stream open after its first event, until it is ended.
	holdStreams bool
}

func (b *recordingBackend) Listen(ctx context.Context, s *Session, out Stream) {
	b.fakeBackend.Listen(ctx, s, out)
	if b.holdStreams {
		<-ctx.Done()
	}
}

func (b *recordingBackend) Request(ctx context.Context, ex *Exchange, ans Answer) {
	b.mu.Lock()
	b.headers = append(b.headers, ex.Header.Clone())
	b.clients = append(b.clients, ex.ClientIP)
	b.mu.Unlock()
	b.fakeBackend.Request(ctx, ex, ans)
}

func (b *recordingBackend) methods() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

// last returns the headers and client address of the last exchange.
func (b *recordingBackend) last() (http.Header, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.headers[len(b.headers)-1], b.clients[len(b.clients)-1]
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

// publicHost is the one Host the test replicas accept from clients, as behind a load balancer:
// a replica's own address, which its peers use, is not among them.
const publicHost = "gw.example"

// replicaPair is two handlers, a and b, that route sessions to each other. Their peers also list
// c, at an address nothing listens on, and e, wrongly at b's own address.
type replicaPair struct {
	a, b   *httptest.Server
	ha, hb *Handler
	ba, bb *recordingBackend
	mu     sync.Mutex
	uris   map[*httptest.Server][]string // the request URIs each server received
}

func newReplicaPair(t *testing.T) *replicaPair {
	t.Helper()
	p := &replicaPair{uris: map[*httptest.Server][]string{}}
	var handlers [2]http.Handler
	servers := [2]*httptest.Server{}
	for i := range servers {
		servers[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			p.uris[servers[i]] = append(p.uris[servers[i]], r.URL.RequestURI())
			p.mu.Unlock()
			handlers[i].ServeHTTP(w, r)
		}))
		t.Cleanup(servers[i].Close)
	}
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]*url.URL{"c": {Scheme: "http", Host: gone.Addr().String()}}
	gone.Close()
	for i, name := range []string{"a", "b"} {
		u, _ := url.Parse(servers[i].URL)
		peers[name] = u
	}
	peers["e"] = peers["b"]
	backends := [2]*recordingBackend{{}, {}}
	hs := [2]*Handler{}
	for i, name := range []string{"a", "b"} {
		hs[i] = New(Config{Auth: refusingAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: true,
			AllowedHosts: []string{publicHost}, Limits: jsonrpc.Limits{MaxBytes: 4096}, Replicas: testReplicas(name, peers)}, backends[i])
		handlers[i] = hs[i]
		t.Cleanup(hs[i].Close)
	}
	p.a, p.b, p.ha, p.hb, p.ba, p.bb = servers[0], servers[1], hs[0], hs[1], backends[0], backends[1]
	return p
}

// lastURI is the request URI srv received last.
func (p *replicaPair) lastURI(srv *httptest.Server) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	uris := p.uris[srv]
	return uris[len(uris)-1]
}

// open initializes a session on a as who and returns its id.
func (p *replicaPair) open(t *testing.T, who string) string {
	t.Helper()
	resp, _ := do(t, p.a.URL, reqSpec{body: legacyInit, headers: map[string]string{"X-Who": who, "Host": publicHost}})
	id := resp.Header.Get(upstream.HeaderSessionID)
	if owner, ok := p.ha.cfg.Replicas.Owner(id); resp.StatusCode != 200 || !ok || owner != "a" {
		t.Fatalf("initialize on a: %d, session %q (owner %q)", resp.StatusCode, id, owner)
	}
	return id
}

func TestSessionsMoveBetweenReplicas(t *testing.T) {
	p := newReplicaPair(t)
	a, b, ha, hb, ba, bb := p.a, p.b, p.ha, p.hb, p.ba, p.bb
	id := p.open(t, "alice")
	as := func(who string, more ...string) map[string]string {
		h := map[string]string{"X-Who": who, upstream.HeaderSessionID: id, "Host": publicHost}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = more[i+1]
		}
		return h
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}`

	// Through b, with a path and query of its own and the load balancer's X-Forwarded-For: a gets
	// them all, and accepts the request although b reaches it by an address that is not the public
	// Host (b checked that one).
	resp, body := do(t, b.URL+"/e/acme/mcp?x=1", reqSpec{body: call, headers: as("alice", "X-Forwarded-For", "203.0.113.5")})
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
	if uri := p.lastURI(a); uri != "/e/acme/mcp?x=1" {
		t.Errorf("a received %q, want the client's path and query", uri)
	}
	header, _ := ba.last()
	if header.Get(HeaderForwarded) != "" || header.Get("X-Forwarded-For") != "203.0.113.5" {
		t.Errorf("the backend saw %s %q and X-Forwarded-For %q, want none and the client's", HeaderForwarded, header.Get(HeaderForwarded), header.Get("X-Forwarded-For"))
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
	req.Host = publicHost
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
	alice := func(session string) map[string]string {
		return map[string]string{"X-Who": "alice", upstream.HeaderSessionID: session, "Host": publicHost}
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
		status  int
		forward bool
	}{
		{"another caller, through b", as("mallory"), 404, true},
		{"a forged id", alice(strings.Join(forged, ".")), 404, false},
		{"a session of a replica not listed", alice(testReplicas("d", nil).newSessionID()), 404, false},
		{"a session of a replica that is gone", alice(testReplicas("c", nil).newSessionID()), 404, true},
		// b forwards to itself, as e, and refuses what it forwarded: the loop ends there.
		{"a peer listed at this replica's own address", alice(testReplicas("e", nil).newSessionID()), 403, true},
		{"a 2026-07-28 request carrying a session id", as("alice", upstream.HeaderProtocolVersion, "2026-07-28"), 400, false},
		{"an unauthenticated request", as("alice", "X-Bad", "1"), 401, false},
		{"a foreign Origin", as("alice", "Origin", "http://evil.example"), 403, false},
		{"a foreign Host", as("alice", "Host", "evil.example"), 403, false},
	} {
		n := len(ba.methods())
		resp, body := do(t, b.URL, reqSpec{body: call, headers: c.headers})
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		if got := len(ba.methods()); got != n {
			t.Errorf("%s: a's backend was reached", c.name)
		}
		if after := hb.cfg.Replicas.Forwarded(); after-before != map[bool]uint64{false: 0, true: 1}[c.forward] {
			t.Errorf("%s: forwarded %d times, want forwarded %v (once)", c.name, after-before, c.forward)
		}
		before = hb.cfg.Replicas.Forwarded()
	}

	// A request a peer forwarded is never forwarded again (a holds no session of b's), and its
	// client's address is the one the peer signed.
	bid := hb.cfg.Replicas.newSessionID()
	resp, _ = do(t, a.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice", upstream.HeaderSessionID: bid,
		HeaderForwarded: hb.cfg.Replicas.sign(http.MethodPost, bid, "127.0.0.1", time.Now())}})
	if resp.StatusCode != 404 || ha.cfg.Replicas.Forwarded() != 0 {
		t.Errorf("a forwarded request for b's session at a: %d, a forwarded %d", resp.StatusCode, ha.cfg.Replicas.Forwarded())
	}
	resp, _ = do(t, a.URL, reqSpec{body: call, headers: map[string]string{"X-Who": "alice", upstream.HeaderSessionID: id,
		HeaderForwarded: hb.cfg.Replicas.sign(http.MethodPost, id, "192.0.2.9", time.Now())}})
	if _, client := ba.last(); resp.StatusCode != 200 || client != "192.0.2.9" {
		t.Errorf("a request b forwarded for 192.0.2.9: %d, the backend saw client %q", resp.StatusCode, client)
	}
	// A Gatehouse-Forwarded header that does not verify is refused: no client may send one.
	n := len(ba.methods())
	resp, _ = do(t, a.URL, reqSpec{body: call, headers: as("alice", HeaderForwarded, "v1 b 0 192.0.2.1 AAAA")})
	if resp.StatusCode != 403 || len(ba.methods()) != n {
		t.Errorf("a forged %s header: %d, want 403 before the backend", HeaderForwarded, resp.StatusCode)
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

// TestForwardedStreamsEndAtShutdown: a GET stream forwarded through b ends cleanly when b's streams
// end, as b's own would, and a GET arriving after that is told to come again.
func TestForwardedStreamsEndAtShutdown(t *testing.T) {
	p := newReplicaPair(t)
	p.ba.holdStreams = true
	id := p.open(t, "alice")
	get := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, p.b.URL, nil)
		req.Host = publicHost
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("X-Who", "alice")
		req.Header.Set(upstream.HeaderSessionID, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	stream := get()
	defer stream.Body.Close()
	first := bufio.NewReader(stream.Body)
	if line, err := first.ReadString('\n'); err != nil || !strings.HasPrefix(line, "id: ") && !strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, ":") {
		t.Fatalf("the stream's first line: %q %v", line, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, first)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the stream ended (%v) before b's EndStreams", err)
	case <-time.After(200 * time.Millisecond):
	}
	p.hb.EndStreams()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the forwarded stream was cut (%v), not ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarded stream did not end with b's EndStreams")
	}
	late := get()
	body, _ := io.ReadAll(late.Body)
	late.Body.Close()
	if late.StatusCode != http.StatusServiceUnavailable || late.Header.Get("Retry-After") == "" {
		t.Errorf("a GET through b after EndStreams: %d %q", late.StatusCode, body)
	}
}
