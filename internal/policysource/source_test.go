package policysource

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/policy"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/engine"
)

func (h *harness) reloads(result string) float64 {
	return testutil.ToFloat64(h.src.reloads.WithLabelValues("rego", result))
}

func TestLoadAndRefuse(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{"gatehouse/p.rego": policyAllowing("echo")})
	h := newHarness(t, Config{Path: dir})
	if err := h.src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.allows(t, "echo") || h.reloads("loaded") != 1 || h.src.LastError() != nil {
		t.Fatalf("first load: allows echo %v, loaded %v, last error %v", h.allows(t, "echo"), h.reloads("loaded"), h.src.LastError())
	}
	first, _ := h.decider()
	if st := h.src.Status(); st.Revision != first.Revision() || st.Source != dir || st.LoadedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
	if logged := h.log.String(); !strings.Contains(logged, `"msg":"policy bundle loaded"`) || !strings.Contains(logged, `"evaluator":"plan"`) {
		t.Errorf("the load log does not name the evaluator:\n%s", logged)
	}

	// A broken bundle is refused: the decider in force stays, the failure is counted, logged at ERROR
	// and kept for /readyz.
	writeTree(t, dir, map[string]string{"gatehouse/p.rego": "package gatehouse\n\ndecision := {\"allow\": nosuch()}\n"})
	err := h.src.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "undefined function nosuch") {
		t.Fatalf("broken bundle: got %v", err)
	}
	if d, n := h.decider(); d != first || n != 1 {
		t.Errorf("a refused bundle was applied (%d applies)", n)
	}
	if h.reloads("refused") != 1 || h.src.LastError() == nil || h.src.Status().Revision != first.Revision() {
		t.Errorf("refused %v, last error %v, revision %q", h.reloads("refused"), h.src.LastError(), h.src.Status().Revision)
	}
	logged := h.log.String()
	if !strings.Contains(logged, `"level":"ERROR","msg":"policy bundle refused; keeping the bundle in force"`) ||
		!strings.Contains(logged, `"revision_in_force":"`+first.Revision()+`"`) {
		t.Errorf("refusal log:\n%s", logged)
	}

	// Fixed: the next reload takes it, and the error clears.
	writeTree(t, dir, map[string]string{"gatehouse/p.rego": policyAllowing("rm")})
	if err := h.src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.allows(t, "rm") || h.allows(t, "echo") || h.src.LastError() != nil || h.reloads("loaded") != 2 {
		t.Errorf("after the fix: rm %v echo %v, last error %v", h.allows(t, "rm"), h.allows(t, "echo"), h.src.LastError())
	}
}

func TestMissingBundleAtStart(t *testing.T) {
	h := newHarness(t, Config{Path: filepath.Join(t.TempDir(), "not-yet")})
	if err := h.src.Load(context.Background()); err == nil {
		t.Fatal("a missing bundle loaded")
	}
	if d, n := h.decider(); d != nil || n != 0 {
		t.Error("something was applied for a missing bundle")
	}
	if h.src.Status().Revision != "" || h.src.LastError() == nil {
		t.Errorf("status = %+v", h.src.Status())
	}
}

func TestPollPicksUpAChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	os.WriteFile(path, opaBuild(t, writeTree(t, t.TempDir(), map[string]string{"p.rego": policyAllowing("echo")}), true, "one"), 0o644)
	h := newHarness(t, Config{Path: path, Poll: 20 * time.Millisecond})
	if err := h.src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.src.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(100 * time.Millisecond)
	if _, n := h.decider(); n != 1 {
		t.Errorf("an unchanged bundle was reloaded by the poll loop: %d applies", n)
	}
	// Replaced atomically, as a deployment would.
	next := opaBuild(t, writeTree(t, t.TempDir(), map[string]string{"p.rego": policyAllowing("rm")}), true, "two")
	tmp := path + ".tmp"
	os.WriteFile(tmp, next, 0o644)
	os.Rename(tmp, path)
	waitFor(t, func() bool { return h.src.Status().Revision == "two" })
	if !h.allows(t, "rm") {
		t.Error("the polled bundle is not the one in force")
	}
	// A broken file is refused once, not on every poll. It too is replaced atomically: written in
	// place, a poll could read it empty, then whole, and refuse two contents.
	os.WriteFile(tmp, []byte("garbage"), 0o644)
	os.Rename(tmp, path)
	waitFor(t, func() bool { return h.reloads("refused") == 1 })
	time.Sleep(100 * time.Millisecond)
	if got := h.reloads("refused"); got != 1 {
		t.Errorf("the same broken content was refused %v times", got)
	}
	if h.src.Status().Revision != "two" {
		t.Error("a refused bundle replaced the one in force")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bundleServer serves a bundle file with an ETag, answering If-None-Match with 304, and counts
// what it sent.
type bundleServer struct {
	mu          sync.Mutex
	body        []byte
	etag        string
	status      int
	full, ok304 int
}

func (s *bundleServer) set(body []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.status = body, etag, 0
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if s.etag != "" && r.Header.Get("If-None-Match") == s.etag {
		s.ok304++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.full++
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(s.body)
}

func (s *bundleServer) counts() (full, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full, s.ok304
}

func TestURLWithETag(t *testing.T) {
	bs := &bundleServer{}
	bs.set(opaBuild(t, writeTree(t, t.TempDir(), map[string]string{"p.rego": policyAllowing("echo")}), true, "one"), `"v1"`)
	srv := httptest.NewServer(bs)
	defer srv.Close()
	h := newHarness(t, Config{URL: srv.URL + "/bundles/b.tar.gz", Poll: 20 * time.Millisecond})
	if err := h.src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.src.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor(t, func() bool { _, nm := bs.counts(); return nm >= 3 })
	if full, _ := bs.counts(); full != 1 {
		t.Errorf("the unchanged bundle was downloaded %d times, want 1 (If-None-Match)", full)
	}
	if _, n := h.decider(); n != 1 {
		t.Errorf("%d applies for an unchanged bundle", n)
	}

	bs.set(opaBuild(t, writeTree(t, t.TempDir(), map[string]string{"p.rego": policyAllowing("rm")}), true, "two"), `"v2"`)
	waitFor(t, func() bool { return h.src.Status().Revision == "two" })
	if !h.allows(t, "rm") {
		t.Error("the new bundle from the URL is not in force")
	}

	// The server fails: refused, counted, the bundle in force stays.
	bs.mu.Lock()
	bs.status = http.StatusInternalServerError
	bs.mu.Unlock()
	waitFor(t, func() bool { return h.reloads("refused") >= 1 })
	if h.src.Status().Revision != "two" || !strings.Contains(h.src.Status().LastError, "500 Internal Server Error") {
		t.Errorf("status after a server error: %+v", h.src.Status())
	}
	// SIGHUP (Load) fetches unconditionally.
	bs.set(bs.body, `"v2"`)
	before, _ := bs.counts()
	if err := h.src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after, _ := bs.counts(); after != before+1 {
		t.Errorf("a forced reload did not download the bundle (%d → %d)", before, after)
	}
}

func TestURLCredentialsNotLogged(t *testing.T) {
	h := newHarness(t, Config{URL: "http://user:hunter2@127.0.0.1:1/b.tar.gz", Client: &http.Client{Timeout: time.Second}})
	if err := h.src.Load(context.Background()); err == nil {
		t.Fatal("loaded from a closed port")
	}
	if strings.Contains(h.log.String(), "hunter2") || strings.Contains(h.src.Status().Source, "hunter2") {
		t.Errorf("the URL's password was logged:\n%s", h.log.String())
	}
}

func TestConfigErrors(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"neither", Config{Logger: logger}, "exactly one of a path and a URL"},
		{"both", Config{Logger: logger, Path: "a", URL: "http://b"}, "exactly one of a path and a URL"},
		{"a file URL", Config{Logger: logger, URL: "file:///etc/passwd"}, "must be an http:// or https:// URL"},
		{"a bad pin", Config{Logger: logger, Path: "a", SHA256: "xyz"}, "64 hex digits"},
		{"a missing key", Config{Logger: logger, Path: "a", PublicKey: "/no/such.pem"}, "bundle public key"},
		{"a bad query", Config{Logger: logger, Path: "a", Rego: regoOptions("gatehouse")}, "reference into data"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestReloadUnderLoad replaces the bundle again and again while requests flow through an engine stage
// on many goroutines: no request fails, every verdict comes from one whole bundle or the other, and the
// first request after each reload is decided by the new bundle (SPEC §5.5, §14).
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	bundles := map[bool]string{
		true:  writeTree(t, filepath.Join(dir, "a"), map[string]string{"gatehouse/p.rego": policyAllowing("echo"), "gatehouse/data.json": `{"generation": "a"}`}),
		false: writeTree(t, filepath.Join(dir, "b"), map[string]string{"gatehouse/p.rego": policyAllowing("rm"), "gatehouse/data.json": `{"generation": "b"}`}),
	}
	live := filepath.Join(dir, "live")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	stage := engine.New(engine.Config{Name: "rego", Mode: pipeline.ModeEnforce, Fail: pipeline.FailClosed,
		Metrics: engine.NewMetrics(reg), Logger: logger}, nil)
	src, err := New(Config{Path: live, Logger: logger, Registerer: prometheus.NewRegistry()}, func(d *regoDecider) { stage.Swap(d) })
	if err != nil {
		t.Fatal(err)
	}
	install := func(echo bool) {
		os.RemoveAll(live)
		if err := os.CopyFS(live, os.DirFS(bundles[echo])); err != nil {
			t.Fatal(err)
		}
		if err := src.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	install(true)

	decide := func(tool string) pipeline.Verdict {
		c := &pipeline.Call{Input: policy.Input{Kind: "tools/call", Phase: policy.PhaseRequest, Tool: policy.Tool{Name: tool}}}
		stage.Handle(context.Background(), c, func(context.Context, *pipeline.Call) error { return nil })
		return c.Verdicts[0]
	}
	var failed, decided atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				echo, rm := decide("echo"), decide("rm")
				decided.Add(2)
				if echo.Fail != "" || rm.Fail != "" || echo.Error != "" {
					failed.Add(1)
				}
				// Each verdict is from a whole bundle: exactly one of echo and rm is allowed, unless the
				// swap fell between the two calls (then both answers are from different bundles, each whole).
				if echo.Effect != policy.EffectAllow && echo.Effect != policy.EffectDeny {
					failed.Add(1)
				}
			}
		})
	}
	for i := range 40 {
		echo := i%2 == 1
		install(echo)
		// The next request after the reload returns is decided by the new bundle.
		if got := decide("echo").Effect == policy.EffectAllow; got != echo {
			t.Fatalf("reload %d: echo allowed = %v right after installing the bundle that says %v", i, got, echo)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d decisions failed during reloads", failed.Load(), decided.Load())
	}
	if decided.Load() < 100 {
		t.Errorf("only %d decisions ran during the reloads: the test did not exercise anything", decided.Load())
	}
	// Every decision was timed as engine "rego" (SPEC §13.2).
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var observed uint64
	for _, f := range families {
		if f.GetName() != "gatehouse_policy_eval_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "engine" && l.GetValue() == "rego" {
					observed += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if observed < uint64(decided.Load()) {
		t.Errorf("gatehouse_policy_eval_seconds{engine=\"rego\"} counted %d decisions, want at least %d", observed, decided.Load())
	}
}

func TestUnloaded(t *testing.T) {
	var log syncBuffer
	u := Unloaded{Logger: slog.New(slog.NewJSONHandler(&log, nil)), Source: "policies/"}
	v, err := u.Decide(context.Background(), &policy.Input{Kind: "tools/call", Tool: policy.Tool{Name: "rm"}})
	if err != nil || v.Effect != policy.EffectAllow || v.Reason != UnloadedReason || v.Revision != "none" {
		t.Errorf("verdict = %+v, %v", v, err)
	}
	if !strings.Contains(log.String(), `"level":"ERROR","msg":"no policy bundle loaded; failing open"`) || !strings.Contains(log.String(), `"target":"rm"`) {
		t.Errorf("log:\n%s", log.String())
	}
	if ok, _ := u.Visible(context.Background(), nil); !ok || u.HasResponsePhase() || u.Revision() != "none" {
		t.Error("Unloaded must show everything and decide no results")
	}
	var _ engine.Decider = u
}
