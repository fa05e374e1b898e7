package cli

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/net/netutil"

	"github.com/gatehouse-mcp/gatehouse/internal/adminapi"
	"github.com/gatehouse-mcp/gatehouse/internal/adminui"
	"github.com/gatehouse-mcp/gatehouse/internal/auth"
	"github.com/gatehouse-mcp/gatehouse/internal/config"
	"github.com/gatehouse-mcp/gatehouse/internal/downstream/streamable"
	"github.com/gatehouse-mcp/gatehouse/internal/gateway"
	"github.com/gatehouse-mcp/gatehouse/internal/jsonrpc"
	"github.com/gatehouse-mcp/gatehouse/internal/pipeline"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/audit"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/identity"
	"github.com/gatehouse-mcp/gatehouse/internal/stage/ratelimit"
	"github.com/gatehouse-mcp/gatehouse/internal/tenancy"
	"github.com/gatehouse-mcp/gatehouse/internal/upstream"
	upstreamhttp "github.com/gatehouse-mcp/gatehouse/internal/upstream/streamable"
)

// serveParams are the inputs of `gatehouse serve`.
type serveParams struct {
	configFile  string
	listen      string
	printConfig bool
}

func newServeCommand(s streams) *cobra.Command {
	p := &serveParams{}
	cmd := &cobra.Command{
		Use:   "serve [--config gatehouse.yaml]",
		Short: "Run the Streamable HTTP gateway in front of one or more MCP servers",
		Long: `serve is the network gateway: a Streamable HTTP MCP endpoint, in both protocol eras (2026-07-28 and
the legacy session-based 2025-11-25, 2025-06-18, 2025-03-26), in front of one or more upstream MCP
servers — stdio processes it supervises, Streamable HTTP servers of either era, or the built-in
sandboxed file tools — federated into one server. Every request is decided by policy and audited,
as in gatehouse run.

With no --config it runs the embedded default (SPEC §1.3): http://127.0.0.1:8080/mcp in front of the
built-in file tools fs.read, fs.write and fs.list (jailed in ./gatehouse-data/<engagement>/), the
starter Rego policies enforcing, the admin listener on 127.0.0.1:9090 and the audit log
./gatehouse-audit.jsonl. It prints a command that calls a tool through it.

The admin listener serves /metrics, /healthz, /readyz and the admin API (engagement allowlists, tool
pin approvals, the kill switch). SIGHUP reloads the rules file and the Rego bundle. SIGUSR1 kills
everything until POST /admin/v1/kills/lift {"scope": "all"}. SIGINT or SIGTERM shut down
gracefully: listen streams (GET, subscriptions/listen) end, in-flight requests finish (up to
http.shutdown_grace), sessions end, the audit log is sealed.

Exit status: 0 clean shutdown, 2 bad configuration, 3 a listener or upstream could not start.`,
		Example: `  gatehouse serve                                   # the embedded default, on loopback
  gatehouse serve --print-config > gatehouse.yaml    # start your own configuration from it
  gatehouse serve --config examples/serve.yaml
  UPSTREAM_URL=http://127.0.0.1:38112/ GATEHOUSE_LISTEN=127.0.0.1:8080 gatehouse serve --config examples/serve-conformance.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.printConfig {
				fmt.Fprint(s.out, config.EmbeddedServe)
				return nil
			}
			if cmd.Flags().Changed("listen") {
				s.env = append(s.env, "GATEHOUSE_LISTEN="+p.listen)
			}
			return runServe(cmd.Context(), p, s)
		},
	}
	cmd.Flags().StringVar(&p.configFile, "config", "", "serve configuration file (see docs/configuration.md); none: the embedded default")
	cmd.Flags().StringVar(&p.listen, "listen", "", "host:port of the MCP endpoint (overrides listen and $GATEHOUSE_LISTEN)")
	cmd.Flags().BoolVar(&p.printConfig, "print-config", false, "print the embedded default configuration and exit")
	return cmd
}

// loadServeConfig loads and validates the configuration (the embedded default without --config),
// works out how the Rego engine runs, and returns the configuration's warnings (config.Warnings).
func loadServeConfig(p *serveParams, env []string) (*config.ServeConfig, config.Rego, []config.Problem, error) {
	cfg, src, err := config.LoadServe(p.configFile, env)
	if err == nil {
		err = joinConfigErrors(cfg.Validate(src), startupFiles(cfg.Files(src)))
	}
	if err != nil {
		return nil, config.Rego{}, nil, fail(ExitUsage, "configuration:\n%v", err)
	}
	return cfg, cfg.Shared().ResolveRego(src.Explicit), cfg.Warnings(src), nil
}

func runServe(ctx context.Context, p *serveParams, s streams) error {
	usr1 := notifyUSR1() // first: a stop sent while gatehouse starts is kept for killOnUSR1
	defer signal.Stop(usr1)
	ignoreSIGPIPE()
	cfg, plan, warnings, err := loadServeConfig(p, s.env)
	if err != nil {
		return err
	}
	logger := newLogger(s.err, cfg.Log.Level, cfg.Log.Format)
	for _, w := range warnings {
		logger.Warn("configuration warning", "problem", w.String())
	}
	if err := hideProcess(); err != nil {
		logger.Warn("could not make the process non-dumpable; servers running as the same user may read its environment", "error", err)
	}
	ctx = orBackground(ctx)
	shared := cfg.Shared()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	posture := pipeline.Fail(cfg.Fail)
	eng, err := startEngines(ctx, shared, plan, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	rec, err := openRecording(ctx, shared, "tcp", s, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer rec.Close() // normally closed already at the end of the shutdown
	w, tracer := rec.w, rec.tracer

	limits := jsonrpc.Limits{MaxBytes: cfg.Limits.MaxMessageMB << 20, MaxDepth: cfg.Limits.MaxDepth, MaxTokens: cfg.Limits.MaxTokens}
	var rl []ratelimit.Limit
	for _, r := range cfg.RateLimits {
		rl = append(rl, ratelimit.Limit{Scope: ratelimit.Scope(r.Scope), Limit: r.Limit, Per: r.Per.D(), Tools: r.Tools})
	}
	var lists *tenancy.Allowlists
	if cfg.Tenancy.Enabled {
		if lists, err = tenancy.Open(cfg.Tenancy.AllowlistFile, cfg.Tenancy.DefaultAllowlist, cfg.Tenancy.Allowlists()); err != nil {
			return fail(ExitUsage, "tenancy: %v", err)
		}
	}
	threatStage, pins, err := buildThreat(cfg.Threat, cfg.Pins, posture, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	recorder := audit.NewRecorder(w, eng.recordedMode(cfg.Mode), logger)
	gwMetrics := gateway.NewMetrics(reg)
	store, closeStore, err := openStore(ctx, cfg.State, os.Getenv, reg, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	defer closeStore()
	approvals, err := approvalOptions(ctx, cfg.Approvals, os.Getenv, logger)
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	gw := gateway.New(gateway.Options{
		Approvals:  approvals,
		Threat:     threatStage,
		Pins:       pins,
		Allowlists: lists,
		Metrics:    gwMetrics,
		Limits:     limits,
		RateLimits: rl,
		Identity:   identity.Transport{},
		Engines:    eng.stages(),
		Fail:       posture,
		Store:      store,
		Recorder:   recorder,
		Logger:     logger,
		Tracer:     tracer,
	})

	upCtx, stopUpstreams := context.WithCancel(context.Background())
	defer stopUpstreams()
	ups, err := buildUpstreams(upCtx, cfg, limits, logger, reg)
	if tools := newPackToolset(shared, eng); tools != nil && err == nil {
		ups = append(ups, &gateway.LocalUpstream{UpstreamName: config.AgentToolsUpstream, UpstreamPrefix: config.AgentToolsUpstream,
			Tools: tools, Version: Version(), Limits: limits})
	}
	if err != nil {
		return fail(ExitRuntime, "%v", err)
	}
	backend, err := gw.NewServer(gateway.ServeOptions{Upstreams: ups, Separator: cfg.Federation.Separator,
		DenyAsToolError: cfg.HTTP.DenyAs == "tool_error", RefusalStatusOK: cfg.HTTP.RefusalStatus == "ok"})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}
	authCfg := auth.Config{Anonymous: &auth.AnonymousConfig{}}
	if cfg.Auth != nil {
		authCfg = *cfg.Auth
	}
	authn, err := auth.New(authCfg, auth.Options{Logger: logger, Registerer: reg})
	if err != nil {
		return fail(ExitUsage, "auth: %v", err)
	}
	hcfg := streamable.Config{
		AllowedOrigins: cfg.HTTP.AllowedOrigins, AllowedHosts: cfg.HTTP.AllowedHosts, Loopback: isLoopbackAddr(cfg.Listen),
		Limits: limits, SessionIdle: cfg.HTTP.SessionIdle.D(), MaxSessions: cfg.HTTP.MaxSessions, MaxSessionsPerCaller: cfg.HTTP.MaxSessionsPerCaller,
		ReadTimeout: cfg.HTTP.ReadTimeout.D(), WriteTimeout: cfg.HTTP.WriteTimeout.D(), MaxInFlight: cfg.HTTP.MaxInFlight, MaxListens: cfg.HTTP.MaxListens,
		Auth: authn, Logger: logger,
	}
	if rv := cfg.Tenancy.Resolver(); rv != nil {
		hcfg.Tenancy = rv
	}
	if hcfg.Replicas, err = replicas(&cfg.Replicas, os.Getenv); err != nil {
		return fail(ExitUsage, "replicas: %v", err)
	}
	handler := streamable.New(hcfg, backend)

	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_sessions",
		Help: "Live legacy-era client sessions."}, func() float64 { return float64(handler.Sessions().Len()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_http_shed_total",
		Help: "Requests refused with 503 because http.max_in_flight requests or http.max_listens listen streams were being handled."}, func() float64 { return float64(handler.Shed()) }))
	if hcfg.Replicas != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_http_session_forwards_total",
			Help: "Requests for a legacy session of another replica forwarded to it (replicas)."}, func() float64 { return float64(hcfg.Replicas.Forwarded()) }))
	}
	mux := http.NewServeMux()
	var mcpHandler http.Handler = handler
	if !cfg.MCPEnabled() {
		mcpHandler = disabledEndpoint{}
	}
	mux.Handle(cfg.Path, mcpHandler)
	if rv := cfg.Tenancy.Resolver(); rv != nil && rv.Uses(tenancy.SourcePath) {
		mux.Handle(engagementPath(cfg.Path), mcpHandler)
	}
	if !authn.Anonymous() {
		// RFC 9728 metadata tells clients where to get a token: it must be reachable without one.
		mux.Handle(auth.WellKnownPath, authn.MetadataHandler())
		mux.Handle(auth.WellKnownPath+"/", authn.MetadataHandler())
	}
	srv := &http.Server{Addr: cfg.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: cfg.HTTP.IdleTimeout.D(),
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	if cfg.TLS.Cert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(ExitRuntime, "listen %s: %v", cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, cfg.HTTP.MaxConnections) // more wait in the kernel's backlog
	var admin *http.Server
	if cfg.Admin.Listen != "" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			ln.Close()
			return fail(ExitRuntime, "admin listen %s: %v", cfg.Admin.Listen, err)
		}
		api := []func(*http.ServeMux){killAPI(store, recorder, logger).Register, approvalAPI(store, cfg.Admin.TokenSHA256 != "", recorder, logger).Register}
		if lists != nil {
			api = append(api, allowlistAPI(lists, recorder, logger).Register)
		}
		if pins != nil {
			api = append(api, pinAPI(pins, recorder, logger).Register)
		}
		ready := &readiness{cfg: cfg, eng: eng, sessions: handler.Sessions().Len, requestPath: gw.RequestPath(), upstreams: backend.UpstreamStates}
		admin = &http.Server{Handler: adminHandler(cfg, reg, ready.detail, api...), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: cfg.HTTP.IdleTimeout.D(),
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		if cfg.TLS.Cert != "" {
			// The admin listener shares the endpoint's certificate: its bearer token must not travel
			// in clear whenever the endpoint's do not.
			admin.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13}
			go admin.ServeTLS(aln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			if !isLoopbackAddr(cfg.Admin.Listen) {
				logger.Warn("the admin listener is not on loopback and has no TLS: its token and answers travel in clear; set tls (shared with the admin listener) or keep admin.listen on 127.0.0.1",
					"admin", cfg.Admin.Listen)
			}
			go admin.Serve(aln)
		}
	}

	scheme := "http"
	if cfg.TLS.Cert != "" {
		scheme = "https"
	}
	names := make([]string, len(ups))
	for i, u := range ups {
		names[i] = u.Name()
	}
	endpoint := scheme + "://" + ln.Addr().String() + cfg.Path
	logger.Info("gatehouse serve starting", "config", orEmbedded(p.configFile), "endpoint", endpoint, "admin", cfg.Admin.Listen,
		"mode", cfg.Mode, "engines", eng.modes(), "fail", cfg.Fail, "rego_fail", eng.rego.posture(cfg.Fail),
		"policy", cfg.Policy.Rules, "policy_revision", eng.rulesRevision(), "bundle", eng.rego.where(), "bundle_revision", eng.rego.revision(),
		"pack", cfg.Policy.Pack, "pack_sha256", eng.packRevision(),
		"threat", cfg.Threat.String(), "pins", pins != nil, "tenancy", cfg.Tenancy.Enabled, "mcp_enabled", cfg.MCPEnabled(),
		"audit", cfg.Audit.Path, "audit_durability", cfg.Audit.Durability,
		"upstreams", names, "request_path", gw.RequestPath(), "auth_anonymous", authn.Anonymous())
	banner := s.out
	if slices.ContainsFunc(cfg.Audit.Sinks, func(c config.SinkConfig) bool { return c.Type == "stdout" }) {
		banner = s.err // standard output carries the audit log's lines, one JSON record each
	}
	printBanner(banner, p.configFile, cfg, endpoint, eng)

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	eng.watch(ctx, logger)
	killOnUSR1(ctx, usr1, store, recorder, logger, `POST /admin/v1/kills/lift {"scope": "all"} on the admin listener`)
	watchKillFile(ctx, cfg.State.KillFile, time.Second, store, recorder, logger)
	errc := make(chan error, 1)
	go func() {
		if cfg.TLS.Cert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serving failed", "error", err)
			return fail(ExitRuntime, "%v", err)
		}
	}
	logger.Info("shutting down: finishing in-flight requests", "grace", cfg.HTTP.ShutdownGrace.D().String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownGrace.D())
	defer cancel()
	// Listen streams (GET, subscriptions/listen) never finish on their own: end them first, so that
	// Shutdown waits only for the requests in flight.
	handler.EndStreams()
	backend.EndWaits() // a held request waiting for a human is answered approval_timeout now
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown grace expired; closing remaining connections", "error", err)
		srv.Close()
	}
	handler.Close()
	if admin != nil {
		admin.Close()
	}
	if err := w.Close(); err != nil {
		logger.Error("closing the audit log", "error", err)
	}
	stopUpstreams()
	logger.Info("gatehouse serve stopped")
	return nil
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// buildUpstreams connects the configured upstreams; stdio servers are started here.
func buildUpstreams(ctx context.Context, cfg *config.ServeConfig, limits jsonrpc.Limits, logger *slog.Logger, reg prometheus.Registerer) ([]gateway.Upstream, error) {
	var out []gateway.Upstream
	client := upstreamhttp.DefaultHTTPClient()
	for _, u := range cfg.Upstreams {
		if u.Builtin == "fs" {
			tools, err := newFSToolset(u.FS)
			if err != nil {
				return nil, fmt.Errorf("upstream %s (builtin fs): %w", u.Name, err)
			}
			context.AfterFunc(ctx, func() { tools.Close() })
			out = append(out, &gateway.LocalUpstream{UpstreamName: u.Name, UpstreamPrefix: u.PrefixOf(), Tools: tools, Version: Version(), Limits: limits, PerEngagement: true})
			continue
		}
		if u.URL != "" {
			headers := u.Headers
			var creds *auth.UpstreamCredentials
			if u.Credentials != nil {
				var err error
				if creds, err = auth.NewUpstreamCredentials(*u.Credentials, auth.Options{Logger: logger}); err != nil {
					return nil, fmt.Errorf("upstream %s credentials: %w", u.Name, err)
				}
			}
			out = append(out, &gateway.HTTPUpstream{UpstreamName: u.Name, UpstreamPrefix: u.PrefixOf(), Timeout: u.RequestTimeout.D(), Logger: logger, Client: &upstreamhttp.Client{
				URL: u.URL, HTTP: client, Limits: limits,
				Authorize: func(ctx context.Context, r *http.Request) error {
					for k, v := range headers {
						r.Header.Set(k, v)
					}
					return creds.Apply(ctx, r) // nil-safe; the credential header wins over headers
				},
				Unauthorized: func(r *http.Request) bool { return creds != nil && creds.Invalidate(r) },
			}})
			continue
		}
		proc := upstream.NewStdio(upstream.StdioConfig{Name: u.Name, Command: u.Command, Env: u.Env, Withhold: cfg.SecretEnv(), MaxFrame: limits.MaxBytes, Logger: logger})
		su, err := gateway.NewStdioUpstream(ctx, u.Name, u.PrefixOf(), proc, limits, logger)
		if err != nil {
			return nil, err
		}
		su.SetRequestTimeout(u.RequestTimeout.D())
		out = append(out, su)
	}
	return out, nil
}

// engagementPath is the endpoint of one engagement, /e/{engagement}/mcp for the path /mcp.
func engagementPath(path string) string { return "/e/{engagement}" + path }

// disabledEndpoint answers every MCP request while MCP_ENABLED is false.
type disabledEndpoint struct{}

func (disabledEndpoint) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "60")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(jsonrpc.ErrorResponse(jsonrpc.ID{}, jsonrpc.CodeInternalError, "the MCP endpoint is disabled (MCP_ENABLED=false)", nil))
}

// adminHandler serves /metrics, /healthz, /readyz, the admin API and the admin web page, with
// security headers, behind the admin token (except /healthz, which load balancers probe, /readyz
// asked without a token, which answers only its status, and the page's static files, which hold
// nothing secret). Every path is behind the MCP endpoint's
// DNS-rebinding rule: on a loopback admin listener a Host that is not a loopback name is refused,
// and so, on any admin listener, is a browser's Origin that is not a loopback origin — otherwise a
// hostile page could change allowlists through the tokenless embedded default. The exception is the
// admin web page's origin where a token is required (pageOrigin): the listener's own origin when it
// is not loopback, and admin.allowed_origins.
// /readyz answers ready's detail, with 503 unless its ready member is true.
func adminHandler(cfg *config.ServeConfig, reg *prometheus.Registry, ready func() any, api ...func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	for _, register := range api {
		register(mux)
	}
	adminui.Register(mux)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		detail := ready()
		w.Header().Set("Content-Type", "application/json")
		if d, ok := detail.(map[string]any); ok && d["ready"] != true {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(detail)
	})
	loopback := isLoopbackAddr(cfg.Admin.Listen)
	var want []byte
	if cfg.Admin.TokenSHA256 != "" {
		want, _ = hex.DecodeString(cfg.Admin.TokenSHA256)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		// Browsers honour HSTS only over HTTPS; sent always, it protects the admin listener the day it
		// is put behind TLS, and costs nothing before.
		hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		allowed := streamable.OriginAllowed(r, nil, nil, loopback)
		if !allowed && want != nil && pageOrigin(r, loopback, cfg.Admin.AllowedOrigins) {
			// The admin web page's origin; the Host rule still holds.
			allowed = streamable.OriginAllowed(&http.Request{Host: r.Host, Header: http.Header{}}, nil, nil, loopback)
		}
		if !allowed {
			adminapi.Error(w, http.StatusForbidden, "Origin or Host not allowed: the admin listener "+cfg.Admin.Listen+
				" answers only loopback names, and no cross-origin browser requests (DNS rebinding)")
			return
		}
		if want != nil && r.URL.Path == "/readyz" && r.Header.Get("Authorization") == "" {
			// A probe that cannot send the token (Kubernetes' httpGet) learns the status, not why.
			d, _ := ready().(map[string]any)
			w.Header().Set("Content-Type", "application/json")
			if d["ready"] != true {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintf(w, "{\"ready\": %t}\n", d["ready"] == true)
			return
		}
		if want != nil && r.URL.Path != "/healthz" && !adminui.Public(r) {
			token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(token))
			if subtle.ConstantTimeCompare(sum[:], want) != 1 {
				hd.Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// pageOrigin says whether r's Origin is the admin web page's, on a listener whose every request must
// carry the admin token: one of admin.allowed_origins (the page reached through a proxy under
// another name), or, on a listener that is not loopback, the listener's own origin — http:// or
// https:// and r's Host, https:// also when a proxy in front ended TLS. A DNS-rebinding page has that
// origin too, but not the token, which the page keeps per origin. On a loopback listener the Host
// must be a loopback name, whose origins are accepted anyway.
func pageOrigin(r *http.Request, loopback bool, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if slices.Contains(allowed, origin) {
		return true
	}
	return !loopback && (origin == "http://"+r.Host || origin == "https://"+r.Host)
}

func isLoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && loopbackHost(host)
}
