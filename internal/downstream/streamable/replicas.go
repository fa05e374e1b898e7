package streamable

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/redact"
	upstream "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// Replicas lets a legacy session live on one replica while its client's requests land on any
// (SPEC §11.2). The replica that opens a session names itself in the session's id, under an HMAC
// of a key every replica shares; a replica that receives a request for another's session forwards
// the HTTP request to it, unchanged, and relays the answer or stream. Nothing is looked up per
// request: one HMAC is checked.
//
// A session stays where it was opened because what it holds cannot move: its upstream sessions and
// the servers gatehouse started for it, its open streams and their replay buffer. When its replica
// is gone, so is the session, and the client is told so (404) and opens a new one, as the transport
// says it must.
type Replicas struct {
	// Name is this replica's name, in the ids of the sessions it opens: a DNS label.
	Name string
	// Peers are the base URLs (scheme://host:port) of the replicas by name. This replica's own
	// entry, if any, is not used.
	Peers map[string]*url.URL
	// Key is shared by every replica: it signs session ids and forwarded requests. At least
	// MinReplicaKey bytes.
	Key []byte
	// Transport carries forwarded requests. Nil: http.DefaultTransport.
	Transport http.RoundTripper

	proxy     *httputil.ReverseProxy
	forwarded atomic.Uint64
}

// MinReplicaKey is the shortest replica key accepted.
const MinReplicaKey = 32

// HeaderForwarded carries a forwarded request's proof that a replica sent it, and for whom:
// "v1 <replica> <unix seconds> <client IP> <MAC>". A request that carries it without a valid MAC is
// treated as the client's own, the header removed.
const HeaderForwarded = "Gatehouse-Forwarded"

// forwardSkew is how far a forwarded request's time may be from this replica's clock.
const forwardSkew = 2 * time.Minute

// Check reports what is wrong with r.
func (r *Replicas) Check() error {
	if !ValidReplicaName(r.Name) {
		return fmt.Errorf("replica name %q is not a DNS label (lower-case letters, digits and '-', at most 63)", r.Name)
	}
	if len(r.Key) < MinReplicaKey {
		return fmt.Errorf("the replica key has %d bytes; it needs at least %d", len(r.Key), MinReplicaKey)
	}
	for name, u := range r.Peers {
		if !ValidReplicaName(name) {
			return fmt.Errorf("peer name %q is not a DNS label", name)
		}
		if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("peer %s: an http or https base URL is needed", name)
		}
	}
	return nil
}

// ValidReplicaName reports whether s may name a replica: a DNS label (RFC 1123), so that it fits a
// session id and a Kubernetes pod's name.
func ValidReplicaName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// mac is the HMAC-SHA256 of the parts under the key, with a label that keeps its uses apart.
func (r *Replicas) mac(label string, parts ...string) []byte {
	m := hmac.New(sha256.New, r.Key)
	m.Write([]byte(label))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// sessionMACLen is the bytes of MAC a session id carries (128 bits).
const sessionMACLen = 16

// b64 encodes MACs; decoding is strict, so that each MAC has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// newSessionID mints a session id that names this replica: "<name>.<128 random bits>.<MAC>".
func (r *Replicas) newSessionID() string {
	body := r.Name + "." + rand.Text()
	return body + "." + b64.EncodeToString(r.mac("gatehouse-session", body)[:sessionMACLen])
}

// Owner returns the replica named by a session id that a replica holding the key minted, or false
// for any other id.
func (r *Replicas) Owner(id string) (string, bool) {
	name, rest, ok := strings.Cut(id, ".")
	if !ok || !ValidReplicaName(name) {
		return "", false
	}
	random, sum, ok := strings.Cut(rest, ".")
	if !ok || len(random) != 26 || b64.DecodedLen(len(sum)) != sessionMACLen {
		return "", false
	}
	got, err := b64.DecodeString(sum)
	if err != nil || !hmac.Equal(got, r.mac("gatehouse-session", name+"."+random)[:sessionMACLen]) {
		return "", false
	}
	return name, true
}

// sign is the HeaderForwarded value for a request this replica forwards. client is the address
// its client connected from; "-" stands for one that is not an IP address.
func (r *Replicas) sign(method, session, client string, now time.Time) string {
	client, _, _ = strings.Cut(client, "%") // an IPv6 zone is this host's own
	if net.ParseIP(client) == nil {
		client = "-"
	}
	unix := strconv.FormatInt(now.Unix(), 10)
	return "v1 " + r.Name + " " + unix + " " + client + " " +
		b64.EncodeToString(r.mac("gatehouse-forward", r.Name, unix, client, method, session))
}

// verify checks a HeaderForwarded value: it returns the client's IP address (or "-") when a peer
// signed it for this method and session within forwardSkew of now.
func (r *Replicas) verify(value, method, session string, now time.Time) (client string, err error) {
	f := strings.Split(value, " ")
	if len(f) != 5 || f[0] != "v1" {
		return "", errors.New("malformed")
	}
	from, unix, client, sum := f[1], f[2], f[3], f[4]
	if _, ok := r.Peers[from]; !ok || from == r.Name {
		return "", errors.New("not from a peer")
	}
	sec, err := strconv.ParseInt(unix, 10, 64)
	if err != nil {
		return "", errors.New("malformed time")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > forwardSkew || d < -forwardSkew {
		return "", errors.New("too old, or from a clock too far from this one")
	}
	got, err := b64.DecodeString(sum)
	if err != nil || !hmac.Equal(got, r.mac("gatehouse-forward", from, unix, client, method, session)) {
		return "", errors.New("bad signature")
	}
	if client != "-" && net.ParseIP(client) == nil {
		return "", errors.New("malformed client address")
	}
	return client, nil
}

// Forwarded is how many requests this replica forwarded to the replica of their session.
func (r *Replicas) Forwarded() uint64 { return r.forwarded.Load() }

// forwardTarget is the context key of a forwarded request's peer.
type forwardTarget struct{}

// init builds the proxy once the handler's settings are known.
func (r *Replicas) init(h *Handler) {
	transport := r.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(forwardTarget{}).(*url.URL)
			pr.SetURL(target)
			// The request goes on as it came: the proxy removed these, and policies may read them.
			for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[k]; ok {
					pr.Out.Header[k] = v
				}
			}
			pr.Out.Header.Set(HeaderForwarded, r.sign(pr.In.Method, pr.In.Header.Get(upstream.HeaderSessionID), clientIP(pr.In), time.Now()))
		},
		// A stream ended by EndStreams ends cleanly, as a local one does, instead of being cut.
		ModifyResponse: func(res *http.Response) error {
			res.Body = &endedBody{ReadCloser: res.Body, ctx: res.Request.Context()}
			return nil
		},
		Transport:     transport,
		FlushInterval: -1, // answers are streams: each event goes on at once
		ErrorLog:      slog.NewLogLogger(h.cfg.Logger.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if errors.Is(context.Cause(req.Context()), ErrStreamsEnded) {
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInternalError,
					"the gateway is shutting down; open the stream again", nil))
				return
			}
			if req.Context().Err() != nil {
				return // the client went away
			}
			session := redact.Clip(req.Header.Get(upstream.HeaderSessionID), 200)
			if isGone(err) {
				h.cfg.Logger.Warn("the replica holding a session cannot be reached; the client must open a new session",
					"session", session, "replica", req.URL.Host, "error", err)
				writeError(w, http.StatusNotFound, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInvalidRequest, "Session not found", nil))
				return
			}
			h.cfg.Logger.Warn("forwarding a request to the replica holding its session failed", "session", session, "replica", req.URL.Host, "error", err)
			writeError(w, http.StatusBadGateway, jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInternalError,
				"the gateway replica holding this session did not answer; try again", nil))
		},
	}
}

// isGone reports whether err says that the replica is not there: its name is not known, or
// nothing listens at its address. A timeout or any other failure may pass, and is not.
func isGone(err error) bool {
	if dns, ok := errors.AsType[*net.DNSError](err); ok {
		return dns.IsNotFound
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// endedBody is a forwarded answer's body whose read, cut because EndStreams ended the stream, is
// its end.
type endedBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b *endedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), ErrStreamsEnded) {
		return n, io.EOF
	}
	return n, err
}

// route returns the peer holding the session a request names, when another replica holds it and
// the request was not forwarded already (a forwarded request is never forwarded again). A
// 2026-07-28 request has no session, whatever it carries. An id that names this replica is not
// checked here: it is looked up, and one this replica did not mint is not found.
func (h *Handler) route(r *http.Request, forwarded bool) (string, *url.URL) {
	rs := h.cfg.Replicas
	if rs == nil || forwarded {
		return "", nil
	}
	id := r.Header.Get(upstream.HeaderSessionID)
	if id == "" || strings.HasPrefix(id, rs.Name+".") || slices.Contains(ModernVersions, strings.TrimSpace(r.Header.Get(upstream.HeaderProtocolVersion))) {
		return "", nil
	}
	owner, ok := rs.Owner(id)
	if !ok {
		return "", nil
	}
	return owner, rs.Peers[owner] // nil for a replica not configured: the session is not found here
}

// Where a request comes from, by its HeaderForwarded.
type origin int

const (
	fromClient  origin = iota // no header (or no replicas configured: the header is dropped)
	fromPeer                  // a header a peer signed
	fromNowhere               // a header that does not verify: refused
)

// origin checks a request's HeaderForwarded and removes it. A request a peer forwarded is returned
// with its client's address. One whose header does not verify is refused by the caller: it is not
// a client's to send, and a forward that no longer verifies (clocks apart, or a peer listed under
// this replica's own address) must not be taken for a client's request and forwarded again.
func (h *Handler) origin(r *http.Request) (*http.Request, origin) {
	value := r.Header.Get(HeaderForwarded)
	if value == "" {
		return r, fromClient
	}
	r.Header.Del(HeaderForwarded)
	rs := h.cfg.Replicas
	if rs == nil {
		return r, fromClient
	}
	client, err := rs.verify(value, r.Method, r.Header.Get(upstream.HeaderSessionID), time.Now())
	if err != nil {
		if n := h.badForwards.Add(1); n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th, ... (they may come from anyone)
			h.cfg.Logger.Warn("refusing a request whose "+HeaderForwarded+" header does not verify", "remote", r.RemoteAddr, "problem", err, "refused", n)
		}
		return r, fromNowhere
	}
	r2 := r.WithContext(r.Context())
	r2.RemoteAddr = client // "-" for a client without an IP address: trusted as none
	if client != "-" {
		r2.RemoteAddr = net.JoinHostPort(client, "0")
	}
	return r2, fromPeer
}

// forward hands a request to the replica holding its session and relays its answer. A forwarded
// POST or DELETE counts among MaxInFlight, as the request itself would. A GET stream is bounded as
// a local one is, by the sessions of its replica (which keeps one GET stream per session), and ends
// with EndStreams, as a local one does.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, owner string, peer *url.URL) {
	ctx := context.WithValue(r.Context(), forwardTarget{}, peer)
	if r.Method == http.MethodGet {
		var cancel context.CancelFunc
		ctx, cancel = h.listenContext(ctx)
		defer cancel()
	} else {
		if !h.take(w, h.inFlight, "requests in flight", h.cfg.MaxInFlight) {
			return
		}
		defer func() { <-h.inFlight }()
	}
	h.cfg.Replicas.forwarded.Add(1)
	h.cfg.Logger.Debug("forwarding a request to the replica holding its session", "method", r.Method, "replica", owner)
	dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout}
	h.cfg.Replicas.proxy.ServeHTTP(dw, r.WithContext(ctx))
	dw.deadline() // for net/http's own writes once the handler returns
}

// deadlineWriter bounds each write of a relayed answer by a timeout, as the handler's own answers
// are (answer.go): a client that stops reading loses the request or stream. The proxy flushes after
// every write, and a flush lifts the deadline, so that a stream may be quiet between two events.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// deadline gives what is written next timeout to reach the client. A writer that cannot set one (a
// test's recorder) writes without.
func (d *deadlineWriter) deadline() { d.rc.SetWriteDeadline(time.Now().Add(d.timeout)) }

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.deadline()
	return d.ResponseWriter.Write(p)
}

func (d *deadlineWriter) WriteHeader(status int) {
	d.deadline()
	d.ResponseWriter.WriteHeader(status)
	if status < 200 { // an interim answer is sent at once: the final one may be long in coming
		d.rc.SetWriteDeadline(time.Time{})
	}
}

// FlushError is what http.ResponseController calls to flush.
func (d *deadlineWriter) FlushError() error {
	d.deadline()
	err := d.rc.Flush()
	d.rc.SetWriteDeadline(time.Time{})
	return err
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
