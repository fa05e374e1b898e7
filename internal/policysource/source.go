package policysource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-mcp/gatehouse/internal/policy/rego"
)

// Config says where a bundle comes from and how it is checked and compiled.
type Config struct {
	// Engine is the engine's name in logs and metrics. Default "rego".
	Engine string
	// Path is a bundle directory or bundle file; URL is an http(s) URL of a bundle file. Exactly one
	// is set.
	Path string
	URL  string
	// FS, instead, is a bundle compiled into gatehouse (the starter policies), named Path in logs.
	FS fs.FS
	// SHA256 pins the bundle file's digest (hex); empty pins nothing.
	SHA256 string
	// PublicKey is a PEM public key file; when set, only bundles signed with its private key load.
	PublicKey string
	// Poll is how often Run looks for a new bundle (a changed file, or a changed ETag); 0 never polls.
	Poll time.Duration
	// Rego is how the bundle is compiled and evaluated.
	Rego rego.Options
	// Client fetches URL bundles. Default: a client with a 30s timeout.
	Client *http.Client
	// MaxBytes bounds the bundle file and each file inside it. Default DefaultMaxBytes.
	MaxBytes int64
	// Logger receives loads (INFO) and refusals (ERROR).
	Logger *slog.Logger
	// Registerer receives gatehouse_policy_bundle_reloads_total.
	Registerer prometheus.Registerer
}

// Status is what a source knows of its bundle, for logs and /readyz.
type Status struct {
	// Source is the path or the redacted URL.
	Source string
	// Revision is the revision of the bundle in force; empty while none has loaded.
	Revision string
	// LoadedAt is when that bundle was swapped in.
	LoadedAt time.Time
	// LastError is why the most recent attempt was refused; empty when it loaded (or nothing changed).
	LastError string
	// LastAttempt is when the bundle was last read.
	LastAttempt time.Time
}

// Source loads one bundle and keeps it fresh.
type Source struct {
	cfg     Config
	apply   func(*rego.Decider)
	verify  *bundle.VerificationConfig
	reloads *prometheus.CounterVec
	logger  *slog.Logger

	mu   sync.Mutex // one load at a time; guards seen and etag
	seen string     // fingerprint or digest of the content last tried (loaded or refused)
	etag string     // ETag of the download last tried

	status atomic.Pointer[Status]
}

// New checks cfg, reads the public key, and registers the reload counter. It loads nothing: call
// Load. apply receives every decider that compiles; it should swap it into the engine stage.
func New(cfg Config, apply func(*rego.Decider)) (*Source, error) {
	if cfg.Engine == "" {
		cfg.Engine = "rego"
	}
	if cfg.Logger == nil {
		return nil, errors.New("policysource: a logger is required")
	}
	if (cfg.Path == "") == (cfg.URL == "") {
		return nil, errors.New("a Rego bundle needs exactly one of a path and a URL")
	}
	if cfg.FS != nil && (cfg.URL != "" || cfg.SHA256 != "") {
		return nil, errors.New("a compiled-in bundle has no URL and no file to pin")
	}
	if cfg.URL != "" {
		if err := checkURL(cfg.URL); err != nil {
			return nil, err
		}
	}
	if cfg.SHA256 != "" {
		if _, err := parseDigest(cfg.SHA256); err != nil {
			return nil, err
		}
	}
	if cfg.Client == nil {
		cfg.Client = newClient()
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if _, err := rego.ParseQuery(orDefault(cfg.Rego.Query, rego.DefaultQuery)); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, apply: apply, logger: cfg.Logger}
	if cfg.PublicKey != "" {
		v, err := Verification(cfg.PublicKey)
		if err != nil {
			return nil, err
		}
		s.verify = v
	}
	s.reloads = reloadCounter(cfg.Registerer)
	s.status.Store(&Status{Source: s.where()})
	return s, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Source) where() string {
	if s.cfg.URL != "" {
		return redactURL(s.cfg.URL)
	}
	return s.cfg.Path
}

// Status returns what the source knows now.
func (s *Source) Status() Status { return *s.status.Load() }

// LastError is why the most recent attempt was refused, nil when it was not.
func (s *Source) LastError() error {
	if msg := s.status.Load().LastError; msg != "" {
		return errors.New(msg)
	}
	return nil
}

// Load reads, verifies and compiles the bundle now, whether or not it changed (start-up and SIGHUP),
// and hands the decider to apply. A bundle that fails is refused: the error is returned, logged at
// ERROR and counted, and the decider in force stays.
func (s *Source) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx, true)
}

// Run polls for a new bundle every cfg.Poll until ctx ends; it returns at once when Poll is 0.
func (s *Source) Run(ctx context.Context) {
	if s.cfg.Poll <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			s.load(ctx, false) // refusals are logged and counted inside
			s.mu.Unlock()
		}
	}
}

// load runs one attempt; force reloads even unchanged content. Callers hold s.mu.
func (s *Source) load(ctx context.Context, force bool) error {
	start := time.Now()
	b, id, unchanged, err := s.read(ctx, force)
	if err == nil && unchanged {
		return nil
	}
	var d *rego.Decider
	if err == nil {
		d, err = rego.New(ctx, b, s.cfg.Rego)
	}
	if err != nil {
		if id != "" {
			s.seen = id // do not retry (and log) the same broken content on every poll
		}
		s.refused(start, err)
		return err
	}
	s.seen = id
	s.apply(d)
	s.reloads.WithLabelValues(s.cfg.Engine, "loaded").Inc()
	st := &Status{Source: s.where(), Revision: d.Revision(), LoadedAt: time.Now(), LastAttempt: start}
	s.status.Store(st)
	attrs := []any{"engine", s.cfg.Engine, "source", st.Source, "revision", st.Revision, "query", d.Query(),
		"response_phase", d.HasResponsePhase(), "took", time.Since(start).Round(time.Microsecond)}
	evaluator, why := d.Evaluator()
	attrs = append(attrs, "evaluator", evaluator)
	if why != "" {
		attrs = append(attrs, "evaluator_why", why)
	}
	s.logger.Info("policy bundle loaded", attrs...)
	for _, w := range d.Warnings() {
		s.logger.Warn("policy bundle warning", "engine", s.cfg.Engine, "source", st.Source, "problem", w.String())
	}
	return nil
}

func (s *Source) refused(start time.Time, err error) {
	s.reloads.WithLabelValues(s.cfg.Engine, "refused").Inc()
	prev := s.status.Load()
	st := *prev
	st.LastError, st.LastAttempt = err.Error(), start
	s.status.Store(&st)
	kept := prev.Revision
	if kept == "" {
		kept = "none"
	}
	s.logger.Error("policy bundle refused; keeping the bundle in force", "engine", s.cfg.Engine,
		"source", st.Source, "revision_in_force", kept, "error", err)
}

// read fetches the bundle. id identifies the content read (a fingerprint, a digest or an ETag), so that
// unchanged content is recognised; unchanged is true when a poll found nothing new.
func (s *Source) read(ctx context.Context, force bool) (b *bundle.Bundle, id string, unchanged bool, err error) {
	o := ReadOptions{SHA256: s.cfg.SHA256, Verification: s.verify, MaxBytes: s.cfg.MaxBytes}
	if s.cfg.URL != "" {
		etag := s.etag
		if force {
			etag = ""
		}
		dl, err := fetch(ctx, s.cfg.Client, s.cfg.URL, etag, s.cfg.MaxBytes)
		if err != nil {
			return nil, "", false, err
		}
		if dl.notModified {
			return nil, "", true, nil
		}
		s.etag = dl.etag
		if !force && dl.digest == s.seen {
			return nil, "", true, nil
		}
		b, err := ReadArchive(s.where(), dl.data, o)
		return b, dl.digest, false, err
	}
	if s.cfg.FS != nil {
		if !force && s.seen != "" {
			return nil, "", true, nil // compiled in: it never changes
		}
		b, err := ReadFS(s.cfg.FS, o)
		return b, "builtin", false, err
	}
	fp, err := Fingerprint(s.cfg.Path, s.cfg.MaxBytes)
	if err != nil {
		return nil, "", false, err
	}
	if !force && fp == s.seen {
		return nil, "", true, nil
	}
	b, err = ReadPath(s.cfg.Path, o)
	return b, fp, false, err
}

// reloadCounter registers gatehouse_policy_bundle_reloads_total{engine,result} on reg, reusing the
// counter when another source registered it first. result is loaded or refused.
func reloadCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_policy_bundle_reloads_total",
		Help: "Policy bundle loads by engine and result (loaded or refused).",
	}, []string{"engine", "result"})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("registering gatehouse_policy_bundle_reloads_total: %v", err))
	}
	return c
}
